"""One env API across the five envs: the same constructor arguments, ``reset(options={"task_id": ...})`` and
``info["outcome"]`` at the end — driven through one code path on real components (the local bubblewrap
sandbox, SWE-bench grading, a real Xvfb desktop, the scripted chat user). Also: deprecated names still work
and warn once, and ``claw_envs`` imports and loads a judge model with ``claw_trainer`` unimportable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401 - registers the ids
from claw_envs.core.errors import ConfigError
from claw_envs.core.task import Check, Task
from claw_envs.sandbox.local import local_sandbox_unavailable
from claw_envs.toolcall.task import ToolTask
from tests.conftest import needs_local

ROOT = Path(__file__).resolve().parents[1]
SWE_FIXTURE = ROOT / "tests" / "fixtures" / "swe"

TERMINAL_TASK = Task(id="hello", instruction="Write hello to /app/x.txt.",
                     checks=(Check("content", "grep -qx hello /app/x.txt"),), solution="echo hello > /app/x.txt")
TOOL_TASK = ToolTask(id="six-sevens", question="What is 6*7?", answer="42", tools=("python",))
TOOL_CALL = '<tool_call>{"name": "python", "arguments": {"code": "print(6*7)"}}</tool_call>'


def _gui_reason() -> str | None:
    import shutil

    from claw_envs.gui.display import display_unavailable
    from claw_envs.sandbox.local import local_sandbox_unavailable

    reason = local_sandbox_unavailable() or display_unavailable()
    for tool in ("xterm", "openbox", "xdotool"):
        if reason is None and shutil.which(tool) is None:
            reason = f"`{tool}` not found (scripts/setup.sh installs it)"
    return reason


def _swe_reason() -> str | None:
    import importlib.util

    from claw_envs.sandbox.local import local_sandbox_unavailable

    if importlib.util.find_spec("swebench") is None:
        return "the [swe] extra (swebench) is not installed"
    return local_sandbox_unavailable()


# env id -> (tasks=, the task id to reset to, the actions of the episode, expected outcome["success"])
CASES = {
    "claw/Terminal-v0": ([TERMINAL_TASK], "hello", ["```bash\necho hello > /app/x.txt\n```", "submit"], True),
    "claw/ToolCall-v0": ([TOOL_TASK], "six-sevens", [TOOL_CALL, "The answer is \\boxed{42}."], True),
    "claw/SWE-v0": (str(SWE_FIXTURE), "calc__calc-1", ["```bash\ngit status --short\n```", "submit"], False),
    "claw/GUI-v0": (None, "term-make-note", ["FAIL"], False),
    "claw/Chat-v0": ("procedural", "student/arith-7", ["## Answer\n**Certainly!** The answer is 42."] * 2, None),
}
SKIPS = {"claw/Terminal-v0": local_sandbox_unavailable, "claw/ToolCall-v0": local_sandbox_unavailable,
         "claw/SWE-v0": _swe_reason, "claw/GUI-v0": _gui_reason, "claw/Chat-v0": lambda: None}


def run_episode(env_id: str, tasks, task_id: str, actions: list[str]) -> tuple[dict, dict, float]:
    """The one code path: the same argument names for every env, reset to a task by id, step to the end."""
    kwargs = {"tasks": tasks, "task_ids": [task_id], "max_steps": len(actions), "backend": "local"}
    if env_id != "claw/Chat-v0":  # Chat-v0 runs no actions, so it has no action timeout
        kwargs["action_timeout"] = 60
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # the common names are the current ones
        env = gym.make(env_id, **kwargs)
    with env:
        _, reset_info = env.reset(seed=0, options={"task_id": task_id})
        info, reward = {}, 0.0
        for action in actions:
            _, reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        assert terminated or truncated, f"{env_id}: the episode did not end within max_steps"
    return reset_info, info, reward


@pytest.mark.parametrize("env_id", list(CASES))
def test_every_env_speaks_one_api(env_id):
    reason = SKIPS[env_id]()
    if reason:
        pytest.skip(f"{env_id}: {reason}")
    tasks, task_id, actions, success = CASES[env_id]
    reset_info, info, reward = run_episode(env_id, tasks, task_id, actions)
    assert (reset_info["task_id"], reset_info["max_steps"], reset_info["backend"]) == (task_id, len(actions), "local")
    assert info["task_id"] == task_id
    outcome = info["outcome"]
    assert isinstance(outcome["score"], float) and isinstance(outcome["success"], bool), outcome
    if env_id == "claw/Chat-v0":  # the reward is each reply's rating; the outcome scores the whole episode
        assert outcome["success"] == (info["next_state"].done_reason == "satisfied")
        assert outcome["turns"] == len(outcome["ratings"]) and 0.0 <= outcome["score"] <= 1.0
    else:
        assert outcome["success"] is success and reward == outcome["score"], (outcome, reward)


@needs_local
def test_swe_reset_honours_task_id():
    """SWE-v0 used to draw a random instance whatever the options said."""
    env = gym.make("claw/SWE-v0")
    ids = sorted(i.instance_id for i in env.unwrapped.instances)
    try:
        for tid in ids[:3]:  # the same seed each time: only the option can change the instance
            _, info = env.reset(seed=0, options={"task_id": tid})
            assert info["task_id"] == tid and env.unwrapped.instance.instance_id == tid
    finally:
        env.close()


def test_deprecated_names_work_and_warn_once_per_process():
    from claw_envs.chat.env import ChatEnv
    from claw_envs.core import env as core_env

    core_env._warned.discard(("ChatEnv", "max_turns"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = ChatEnv(persona="student", max_turns=2)
        second = ChatEnv(persona="student", max_turns=3)
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
            and "max_turns" in str(w.message)]
    assert len(msgs) == 1 and "'max_steps'" in msgs[0], msgs
    assert (first.max_steps, second.max_steps) == (2, 3)
    with pytest.raises(ConfigError, match="pass max_steps= only"):
        ChatEnv(max_turns=2, max_steps=3)
    with pytest.raises(TypeError, match="max_stepz"):
        ChatEnv(max_stepz=2)


def test_old_info_key_warns_once_when_read():
    from claw_envs.core import env as core_env
    from claw_envs.core.env import InfoWithOldKeys

    core_env._warned.discard(("info", "evaluation"))
    info = InfoWithOldKeys(outcome={"score": 1.0}, evaluation={"score": 1.0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert info["outcome"]["score"] == 1.0 and info["evaluation"]["score"] == 1.0
        assert info.get("evaluation")["score"] == 1.0
    msgs = [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(msgs) == 1 and "'outcome'" in msgs[0], msgs


@needs_local
def test_deprecated_swe_names_still_select_the_instance():
    if _swe_reason():
        pytest.skip(_swe_reason())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        env = gym.make("claw/SWE-v0", instances=str(SWE_FIXTURE), instance_ids=["calc__calc-1"])
        try:
            _, info = env.reset(options={"instance_id": "calc__calc-1"})
        finally:
            env.close()
    assert info["task_id"] == "calc__calc-1"


BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    class NoTrainer(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "claw_trainer" or name.startswith("claw_trainer."):
                raise ImportError(f"blocked: claw_envs imported {name}")
    sys.meta_path.insert(0, NoTrainer())
""")


def test_claw_envs_never_imports_claw_trainer(tmp_path):
    """Every claw_envs module imports, and the judge's local-model backend loads a model, with claw_trainer
    unimportable (a meta-path finder refuses it in a fresh interpreter)."""
    pytest.importorskip("transformers", reason="the [train] extra (transformers) is not installed")
    from claw_trainer.tiny import build_tiny_model

    model_dir = build_tiny_model(tmp_path / "tiny")
    script = BLOCKER + textwrap.dedent(f"""
        import json, pkgutil, importlib
        import claw_envs
        failed = {{}}
        for m in pkgutil.walk_packages(claw_envs.__path__, "claw_envs."):
            try:
                importlib.import_module(m.name)
            except Exception as e:
                failed[m.name] = repr(e)
        from claw_envs.prm.backends import TransformersBackend
        backend = TransformersBackend({str(model_dir)!r})
        print(json.dumps({{"failed": failed, "loaded": type(backend.model).__name__,
                           "trainer_loaded": [k for k in sys.modules if k.startswith("claw_trainer")]}}))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    blocked = {k: v for k, v in out["failed"].items() if "claw_trainer" in v}
    assert not blocked, f"claw_envs modules that import claw_trainer: {blocked}"
    assert not out["failed"], f"claw_envs modules that fail to import: {out['failed']}"
    assert out["loaded"] and out["trainer_loaded"] == []
