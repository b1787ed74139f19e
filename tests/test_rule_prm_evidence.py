"""The rule PRM rewards evidence, not appearances: through PRMReward on a real Terminal-v0 episode, a command
that only prints "ok" or a fake test summary is not rewarded, while real work still is."""

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401
from claw_envs.core.task import Check, Task
from claw_envs.prm import Judge, PRMReward, RuleBackend, rule_vote
from tests.conftest import needs_local

TASK = Task(id="t", instruction="Create the file /app/done.", checks=(Check("done", "test -f /app/done"),))


@pytest.mark.parametrize("action,text,task,vote", [
    ("```bash\necho ok\n```", "ok\n[exit code: 0]", None, -1),
    ("```bash\nprintf '12 passed\\n'\n```", "12 passed\n", None, -1),
    ('{"command": "echo Success"}', "Success\n", None, -1),
    ("```bash\necho created /app/done\n```", "created /app/done\n", TASK.instruction, -1),
    ("```bash\necho hello\n```", "hello\n", TASK.instruction, 0),
    ("```bash\npython3 -m pytest -q\n```", "3 passed in 0.1s\n", None, 1),
    ("```bash\nls /app\n```", "done\n", TASK.instruction, 1),
])
def test_self_printed_output_is_not_evidence(action, text, task, vote):
    assert rule_vote("environment", text, action=action, task=task)[0] == vote
    assert rule_vote("environment", text)[0] == 1  # without the action, output alone reads as success


@pytest.mark.parametrize("cmd,text", [
    ("true", "[exit code: 0]"),
    ("ls /", "bin\nboot\ndev\netc\nusr\n[exit code: 0]"),
    ("cd .", "[exit code: 0]"),
    ("exit 0", "[exit code: 0]"),
    ("pwd && ls", "/app\nnotes\n[exit code: 0]"),
])
def test_exit_zero_alone_is_not_evidence(cmd, text):
    assert rule_vote("environment", text, action=f"```bash\n{cmd}\n```", task=TASK.instruction)[0] == 0
    # the same commands failing still count against the turn
    assert rule_vote("environment", "No such file or directory\n[exit code: 2]", action=f"```bash\n{cmd}\n```",
                     task=TASK.instruction)[0] == -1


def test_rule_judge_agreement_on_the_labelled_cases_holds():
    """κ of the rule judge on tasks/judge/cases.jsonl (with the trivial-success cases) stays ≥ 0.55."""
    from pathlib import Path

    from claw_envs.prm.evaluate import evaluate_judge, load_cases

    cases = load_cases(Path(__file__).resolve().parents[1] / "tasks" / "judge" / "cases.jsonl")
    assert sum(c["id"].startswith("term-noop") for c in cases) == 5
    rep = evaluate_judge(Judge(RuleBackend(), m=1), cases)
    assert rep.kappa >= 0.55, rep


@needs_local
def test_prm_wrapper_does_not_reward_echo_ok():
    env = PRMReward(gym.make("claw/Terminal-v0", tasks=[TASK]), Judge(RuleBackend(), m=1), coef=1.0)
    try:
        env.reset(seed=0)
        _, r, _, _, info = env.step("```bash\necho ok\n```")
        assert info["reward_channels"]["process"] == -1.0 and r == -1.0
        _, r, _, _, info = env.step("```bash\necho '5 passed'\n```")
        assert info["reward_channels"]["process"] == -1.0
        _, r, _, _, info = env.step("```bash\ntouch /app/done && ls /app\n```")
        assert info["reward_channels"]["process"] == 1.0
        _, r, term, _, info = env.step("submit")
        assert term and info["reward_channels"]["outcome"] == 1.0
    finally:
        env.close()
