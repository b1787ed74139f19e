"""claw/SWE-v0: episodes through the env loop, grading by swebench's harness code, failure outcomes,
hostile actions, and validation of every shipped instance."""

import json
from dataclasses import replace
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import claw_envs  # noqa: F401
from claw_envs.core.errors import TaskError
from claw_envs.sandbox import SandboxConfig, make_sandbox
from claw_envs.swe import evaluate_patch, from_row, load_instances, write_predictions
from claw_envs.swe.grading import ROOT
from claw_envs.swe.validate import validate_instance
from claw_envs.swe.workspace import prepare
from tests.conftest import needs_local

pytest.importorskip("swebench", reason="the [swe] extra (swebench) is not installed")
FIXTURE = Path(__file__).parent / "fixtures" / "swe"
BUILTIN = Path(__file__).resolve().parents[1] / "tasks" / "swe"


def bash(cmd):
    return f"```bash\n{cmd}\n```"


@pytest.fixture
def env():
    e = gym.make("claw/SWE-v0", instances=str(FIXTURE))
    yield e
    e.close()


@needs_local
def test_check_env_on_builtin_instances():
    e = gym.make("claw/SWE-v0")
    check_env(e.unwrapped, skip_render_check=True)
    e.close()


@needs_local
def test_scripted_agent_applying_the_gold_patch_gets_plus_one(env, tmp_path):
    obs, info = env.reset(seed=0)
    inst = env.unwrapped.instance
    assert "mean" in obs[0]["content"] and len(info["base_commit"]) == 40
    _, _, _, _, i = env.step(bash("git log --oneline | wc -l && ls"))
    assert i["next_state"].text.startswith("1\ncalc\n") and i["next_state"].kind == "swe"
    _, _, _, _, i = env.step(bash(f"cat > /tmp/gold.patch <<'PATCH'\n{inst.patch}PATCH\ngit apply /tmp/gold.patch && "
                                  "git status --short"))
    assert i["next_state"].text.startswith(" M calc/__init__.py")
    _, r, term, _, info = env.step("submit")
    out = info["outcome"]
    assert term and r == 1.0 and out["status"] == "resolved" and out["resolution"] == "RESOLVED_FULL"
    assert out["FAIL_TO_PASS"] == 1.0 and out["PASS_TO_PASS"] == 1.0
    assert info["prediction"]["model_patch"].startswith("diff --git a/calc/__init__.py")
    write_predictions(tmp_path / "preds.jsonl", [info["prediction"]])
    row = json.loads((tmp_path / "preds.jsonl").read_text())
    assert set(row) == {"instance_id", "model_name_or_path", "model_patch"}


@needs_local
def test_empty_submit_and_editing_tests_do_not_resolve(env):
    env.reset(seed=0)
    _, r, term, _, info = env.step("submit")
    assert r == -1.0 and info["outcome"]["status"] == "unresolved" and info["outcome"]["FAIL_TO_PASS"] == 0.0
    env.reset(seed=0)
    # cheating on the test files is undone: they are reset to base_commit before the test patch applies
    env.step(bash("printf 'def test_mean():\\n    pass\\n' > tests/test_calc.py"))
    _, r, _, _, info = env.step("submit")
    assert r == -1.0 and info["outcome"]["resolution"] in ("RESOLVED_NO", "RESOLVED_PARTIAL")


@needs_local
def test_patch_failure_timeout_and_max_steps_are_distinct_outcomes():
    inst = prepare(load_instances(FIXTURE)[0])
    sb = make_sandbox("local", SandboxConfig(workdir=ROOT, writable={"/tmp": "64m", ROOT: "64m"}))
    sb.start()
    try:
        bad = evaluate_patch(sb, inst, "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n")
        assert (bad.status, bad.resolved) == ("patch_failed", False) and "Patch Apply Failed" in bad.log
        slow = evaluate_patch(sb, replace(inst, eval_script="sleep 30"), "", timeout=1)
        assert slow.status == "timeout" and not slow.resolved
    finally:
        sb.close()
    e = gym.make("claw/SWE-v0", instances=str(FIXTURE), max_steps=2)
    e.reset(seed=0)
    e.step(bash("true"))
    _, r, term, trunc, info = e.step(bash("true"))
    assert trunc and not term and r == -1.0 and info["next_state"].done_reason == "max_steps"
    e.close()


@needs_local
@pytest.mark.parametrize("cmd", ["rm -rf --no-preserve-root / 2>/dev/null; true", "rm -rf .git",
                                 "echo x > /etc/passwd; echo x > /usr/lib/x", "curl -sS -m 3 http://1.1.1.1",
                                 "kill -9 -1"])
def test_hostile_actions_are_contained(env, cmd):
    env.reset(seed=0)
    _, _, term, _, info = env.step(bash(cmd))
    if not term:
        _, r, term, _, info = env.step("submit")
    assert term and info["outcome"]["status"] in ("unresolved", "patch_failed") and not info["outcome"]["resolved"]
    obs, _ = env.reset(seed=0)  # the env is usable again
    _, _, _, _, info = env.step(bash("ls calc"))
    assert "__init__.py" in info["next_state"].text


def test_rows_and_jsonl_loading(tmp_path):
    row = {"instance_id": "a__b-1", "repo": "a/b", "base_commit": "0" * 40, "problem_statement": "p",
           "patch": "", "test_patch": "", "FAIL_TO_PASS": json.dumps(["t::x"]), "PASS_TO_PASS": "[]",
           "version": "1.0", "log_parser": "parse_log_pytest", "eval_type": "pass_and_fail", "eval_script": None}
    f = tmp_path / "rows.jsonl"
    f.write_text(json.dumps(row) + "\n")
    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(f), split="train")
    insts = [from_row(dict(r)) for r in ds]
    assert insts[0].FAIL_TO_PASS == ("t::x",) and insts[0].row()["base_commit"] == "0" * 40
    assert load_instances(f)[0].instance_id == "a__b-1"
    with pytest.raises(TaskError, match="missing SWE-bench fields"):
        from_row({"instance_id": "x"})
    with pytest.raises(TaskError, match="need the docker backend"):
        e = gym.make("claw/SWE-v0", instances=str(f))
        e.reset(seed=0)


SHIPPED = load_instances(BUILTIN) if any(BUILTIN.glob("*/meta.yaml")) else []


def test_at_least_ten_instances_ship():
    assert len(SHIPPED) >= 10


@needs_local
@pytest.mark.parametrize("inst", SHIPPED, ids=[i.instance_id for i in SHIPPED])
def test_every_shipped_instance_validates(inst):
    v = validate_instance(inst)
    assert v.ok, v
