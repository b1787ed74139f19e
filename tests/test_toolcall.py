import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import claw_envs  # noqa: F401
from claw_envs.core.errors import TaskError
from claw_envs.toolcall import ToolCallEnv, ToolTask, function_tool, load_math_rows, load_tool_tasks
from claw_envs.toolcall.generator import generate
from claw_envs.toolcall.validate import validate_tool_task
from claw_envs.toolcall.verifiers import last_boxed, verify_answer
from tests.conftest import needs_local

TASK = ToolTask(id="t", question="What is 6*7?", answer="42", tools=("python",))


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_last_boxed_and_verifiers():
    assert last_boxed("a \\boxed{1} then \\boxed{\\frac{1}{2}}") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{unclosed") is None and last_boxed("none") is None
    assert verify_answer("math", "\\frac{1}{2}", "0.5") and verify_answer("math", "1/2", "\\frac{1}{2}")
    assert verify_answer("math", "12,615", "12615") and not verify_answer("math", "1893456001", "1893456000")
    assert verify_answer("numeric", "26.2199999", "26.22", 1e-6) and not verify_answer("numeric", "26.2", "26.22", 1e-6)
    assert verify_answer("exact", " Dmitri  Oakhurst ", "dmitri oakhurst")
    assert not verify_answer("math", "banana", "42")


def test_function_tool_schema_and_argument_validation():
    def convert(value: float, unit: str = "km") -> str:
        """Convert a distance.

        Args:
            value: the distance
            unit: its unit
        """
        return f"{value} {unit}"

    t = function_tool(convert)
    assert t.schema()["function"]["parameters"] == {
        "type": "object", "required": ["value"],
        "properties": {"value": {"type": "number", "description": "the distance"},
                       "unit": {"type": "string", "description": "its unit"}}}
    assert t(value=3) == "3 km"
    for bad, msg in [({}, "missing"), ({"value": "x"}, "must be number"), ({"value": 1, "zz": 2}, "unknown")]:
        with pytest.raises(ValueError, match=msg):
            t(**bad)
    with pytest.raises(ValueError, match="docstring"):
        function_tool(lambda x: x)


def test_generator_is_seeded_and_levels_differ():
    a = [generate(np.random.default_rng(5), d) for d in (1, 2, 3)]
    b = [generate(np.random.default_rng(5), d) for d in (1, 2, 3)]
    assert [t.question for t in a] == [t.question for t in b]
    assert all(t.answer.lstrip("-").isdigit() for t in a)


def test_load_math_rows_from_local_jsonl(tmp_path):
    from datasets import load_dataset

    rows = [{"question": "2+2?", "answer": "Two and two #### 4"},
            {"question": "Half of 9?", "answer": "#### 4.5"}]
    f = tmp_path / "gsm.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows))
    ds = load_dataset("json", data_files=str(f), split="train")
    tasks = load_math_rows(ds)
    assert [(t.question, t.answer) for t in tasks] == [("2+2?", "4"), ("Half of 9?", "4.5")]
    dapo = load_math_rows([{"prompt": [{"role": "user", "content": "x?"}], "reward_model": {"ground_truth": "7"}}])
    assert dapo[0].question == "x?" and dapo[0].answer == "7"
    with pytest.raises(TaskError, match="no answer column"):
        load_math_rows([{"question": "q"}])


def test_malformed_task_files(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("- {id: a, question: q}\n")
    with pytest.raises(TaskError, match="'answer' is required"):
        load_tool_tasks(f)
    f.write_text("- {id: a, question: q, answer: 1, verifier: fuzzy}\n")
    with pytest.raises(TaskError, match="verifier must be"):
        load_tool_tasks(f)


@needs_local
def test_check_env_and_episode():
    env = gym.make("claw/ToolCall-v0", tasks=[TASK])
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert info["tools"][0]["function"]["name"] == "python" and "6*7" in obs[0]["content"]
    obs, r, te, tr, info = env.step(call("python", code="print(6 * 7)"))
    ns = info["next_state"]
    assert (ns.role, ns.kind, ns.text, r, te) == ("tool", "tool", "42", 0.0, False)
    assert obs[-1] == {"role": "tool", "content": "42", "tool_call_id": ""}
    obs, r, te, tr, info = env.step("So the answer is \\boxed{42}.")
    assert te and r == 1.0 and info["outcome"]["correct"]
    env.reset(seed=0)
    _, r, te, _, info = env.step("\\boxed{41}")
    assert te and r == -1.0
    env.close()


@needs_local
def test_tool_errors_count_toward_the_limit_and_never_raise():
    env = gym.make("claw/ToolCall-v0", tasks=[TASK], max_parse_errors=3)
    env.reset(seed=0)
    _, _, te, _, info = env.step("<tool_call>{broken json</tool_call>")
    assert not te and "not valid JSON" in info["next_state"].text
    _, _, te, _, info = env.step(call("nope"))
    assert not te and "unknown tool 'nope'" in info["next_state"].text
    _, r, te, _, info = env.step(call("python", source="print(1)"))
    assert te and r == -1.0 and info["next_state"].done_reason == "parse_errors"
    assert "unknown argument" in info["next_state"].text


@needs_local
def test_max_steps_and_shaping():
    env = gym.make("claw/ToolCall-v0", tasks=[TASK], max_steps=3, shaping=True)
    env.reset(seed=0)
    for _ in range(2):
        env.step(call("python", code="print(1)"))
    _, r, te, tr, info = env.step(call("python", code="print(2)"))
    assert tr and not te and info["next_state"].done_reason == "max_steps"
    assert r == pytest.approx(min(-0.6, -1 + (3 - 2) * 0.05))
    env.reset(seed=0)
    _, r, *_ = env.step("\\boxed{0}")
    assert r == pytest.approx(-1.1)


REPO = Path(__file__).resolve().parents[1]
HOSTILE = [
    (f"import os; print(os.system('echo pwned > {REPO}/pwned'))", lambda t: "Directory nonexistent" in t),
    ("print(open('/etc/shadow').read())", lambda t: "No such file" in t),
    ("import socket; socket.create_connection(('1.1.1.1', 80), 2)", lambda t: "unreachable" in t.lower()),
    ("while True: pass", lambda t: "timed out after 2 s" in t),
    ("print('x' * 10_000_000)", lambda t: "[output truncated]" in t),
    ("import os; os.kill(os.getppid(), 9)", lambda t: "[exit code: 137]" in t),
    ("open('/usr/lib/evil', 'w')", lambda t: "Read-only file system" in t or "Permission denied" in t),
]


@needs_local
@pytest.mark.parametrize("code, ok", HOSTILE, ids=["os-system", "shadow", "network", "infinite-loop",
                                                    "huge-output", "kill-parent", "write-host"])
def test_hostile_python_is_contained(code, ok):
    env = ToolCallEnv(tasks=[TASK], tool_timeout=2)
    env.reset(seed=0)
    _, _, te, _, info = env.step(call("python", code=code))
    assert not te and ok(info["next_state"].text), info["next_state"].text
    assert not (REPO / "pwned").exists()
    _, _, _, _, info = env.step(call("python", code="print('still works')"))
    assert info["next_state"].text == "still works"
    env.close()


@needs_local
def test_every_builtin_task_is_validated_by_its_oracle():
    env = ToolCallEnv(tasks="builtin")
    assert len(env.tasks) >= 30
    results = [validate_tool_task(env, t.id) for t in env.tasks]
    env.close()
    bad = [(v.task_id, v.error) for v in results if not v.ok]
    assert not bad
    tools = {n for t in env.tasks for n in t.tools}
    assert {"python", "query_db"} <= tools


@needs_local
def test_vector_env_over_toolcall():
    vec = gym.make_vec("claw/ToolCall-v0", num_envs=4, tasks="generated", difficulty=1)
    obs, infos = vec.reset(seed=0)
    answers = [t.answer for t in vec.call("task")]
    _, rew, term, _, _ = vec.step([f"\\boxed{{{a}}}" for a in answers])
    assert term.all() and (rew == 1.0).all()
    vec.close()


def test_worked_examples_come_before_the_task_as_chat_turns():
    from claw_envs.core.errors import ConfigError
    from claw_envs.toolcall.env import EXAMPLE_TURNS, ToolCallEnv

    env = ToolCallEnv(tasks="generated", difficulty=1, examples=1)
    obs, info = env.reset(seed=3)
    assert [m["role"] for m in obs] == ["user", "assistant", "user"]
    assert obs[1] == EXAMPLE_TURNS[0][1][0] and "\\boxed{5}" in obs[1]["content"]
    assert obs[0]["content"].endswith(obs[-1]["content"][len(env.task.question):])  # the task's instructions
    obs, reward, terminated, _, _ = env.step(f"The answer is \\boxed{{{env.task.answer}}}.")
    assert terminated and reward == 1.0
    env.close()
    with pytest.raises(ConfigError, match="examples must be 0..3"):
        ToolCallEnv(tasks="generated", examples=4)
