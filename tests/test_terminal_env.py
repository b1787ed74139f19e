import json
import shutil
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import claw_envs  # noqa: F401
from claw_envs.core.errors import TaskError
from claw_envs.core.nextstate import NextState
from claw_envs.core.task import Check, Task
from tests.conftest import needs_local

pytestmark = needs_local
FIXTURES = Path(__file__).parent / "fixtures"
TASK = Task(id="hello", instruction="Write hello to /app/x.txt.", setup="mkdir -p /app/sub",
            checks=(Check("exists", "test -f /app/x.txt"), Check("content", "grep -qx hello /app/x.txt")),
            solution="echo hello > /app/x.txt")


def bash(cmd: str) -> str:
    return f"```bash\n{cmd}\n```"


def test_check_env_on_registered_id():
    env = gym.make("claw/Terminal-v0")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_episode_flow_next_state_and_reward():
    env = gym.make("claw/Terminal-v0", tasks=[TASK])
    obs, info = env.reset(seed=1)
    assert info["task_id"] == "hello" and obs[0]["role"] == "user" and "hello" in obs[0]["content"]
    obs, r, te, tr, info = env.step(bash("cd sub && export V=42 && echo in $PWD"))
    ns = info["next_state"]
    assert isinstance(ns, NextState) and ns.role == "environment" and ns.kind == "terminal"
    assert ns.exit_code == 0 and "in /app/sub" in ns.text and (r, te, tr) == (0.0, False, False)
    assert obs[-2] == {"role": "assistant", "content": bash("cd sub && export V=42 && echo in $PWD")}
    assert obs[-1]["content"] == ns.text
    call = '<tool_call>{"name": "bash", "arguments": {"command": "echo $V $PWD; echo hello > /app/x.txt"}}</tool_call>'
    _, _, _, _, info = env.step(call)
    assert info["next_state"].text.startswith("42 /app/sub")
    obs, r, te, tr, info = env.step("submit")
    assert te and not tr and r == 1.0 and info["next_state"].done_reason == "submitted"
    assert info["outcome"]["pass_fraction"] == 1.0 and info["outcome"]["signed"] == 1.0
    with pytest.raises(RuntimeError, match="reset"):
        env.step("submit")
    env.close()


def test_openai_tool_call_dict_gets_tool_message():
    env = gym.make("claw/Terminal-v0", tasks=[TASK])
    env.reset(seed=0)
    msg = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "function": {"name": "bash", "arguments": json.dumps({"command": "echo hi"})}}]}
    obs, *_ = env.step(msg)
    assert obs[-1]["role"] == "tool" and obs[-1]["tool_call_id"] == "c1" and obs[-1]["content"].startswith("hi")
    env.close()


def test_partial_credit_signed_reward_and_max_steps():
    env = gym.make("claw/Terminal-v0", tasks=[TASK], max_steps=2, reward="signed")
    env.reset(seed=0)
    env.step(bash("touch /app/x.txt"))
    _, r, te, tr, info = env.step(bash("ls"))
    assert tr and not te and info["next_state"].done_reason == "max_steps"
    assert info["outcome"]["passed"] == 1 and info["outcome"]["total"] == 2 and r == 0.0  # 2*0.5-1
    env.close()


def test_parse_errors_are_reported_and_three_end_the_episode():
    env = gym.make("claw/Terminal-v0", tasks=[TASK])
    env.reset(seed=0)
    for bad in ["just chatting", bash("a") + bash("b"), "<tool_call>{oops</tool_call>"]:
        obs, r, te, tr, info = env.step(bad)
        assert info["next_state"].payload["action_kind"] == "error"
        assert "Could not run your action" in info["next_state"].text
    assert te and info["next_state"].done_reason == "parse_errors" and r == 0.0
    env.reset(seed=0)
    _, _, te, _, info = env.step('<tool_call>{"name": "python", "arguments": {}}</tool_call>')
    assert not te and "unknown tool 'python'" in info["next_state"].text
    env.close()


def test_command_timeout_and_flood_are_reported():
    env = gym.make("claw/Terminal-v0", tasks=[TASK], command_timeout=1)
    env.reset(seed=0)
    _, _, _, _, info = env.step(bash("sleep 10"))
    assert info["next_state"].payload["timed_out"] and "timed out after 1 s" in info["next_state"].text
    _, _, _, _, info = env.step(bash("yes | head -c 50000000"))
    assert info["next_state"].payload["truncated"] and "[output truncated]" in info["next_state"].text
    env.close()


def test_unknown_task_id_and_bad_reward_mode():
    with pytest.raises(TaskError, match="unknown task ids"):
        gym.make("claw/Terminal-v0", tasks=[TASK], task_ids=["nope"])
    env = gym.make("claw/Terminal-v0", tasks=[TASK])
    with pytest.raises(TaskError, match="unknown task_id"):
        env.reset(options={"task_id": "nope"})
    with pytest.raises(Exception, match="reward must be"):
        gym.make("claw/Terminal-v0", tasks=[TASK], reward="nope")


def test_seeded_task_choice_is_deterministic():
    env = gym.make("claw/Terminal-v0")
    a = [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    b = [env.reset(seed=s)[1]["task_id"] for s in range(5)]
    assert a == b and len(set(a)) > 1
    env.close()


def test_harbor_task_replays_dockerfile_and_grades_with_reward_file():
    env = gym.make("claw/Terminal-v0", tasks=str(FIXTURES / "harbor-hello"))
    obs, info = env.reset(seed=0)
    _, _, _, _, i2 = env.step(bash("cat .setup-marker; echo $GREETING_FILE; ls /tests"))
    assert i2["next_state"].text.startswith("setup ran\n/app/greeting.txt\n")  # no tests visible to the agent
    _, r, te, _, info = env.step("submit")
    assert te and r == 0.0
    env.reset(seed=0)
    env.unwrapped.run_oracle()
    _, r, _, _, info = env.step("submit")
    assert r == 1.0 and info["outcome"]["pass_fraction"] == 1.0
    env.close()


def test_harbor_step_that_needs_network_fails_at_reset_naming_the_step(tmp_path):
    task = tmp_path / "needs-apt"
    shutil.copytree(FIXTURES / "harbor-hello", task)
    df = task / "environment" / "Dockerfile"
    df.write_text(df.read_text() + "RUN apt-get update && apt-get install -y cowsay\n")
    env = gym.make("claw/Terminal-v0", tasks=str(task))
    with pytest.raises(TaskError) as e:
        env.reset(seed=0)
    msg = str(e.value)
    assert "Dockerfile:7" in msg and "apt-get install -y cowsay" in msg and "docker backend" in msg
    env.close()
