"""The agent's background processes are dead before the tests run (TerminalEnv(agent_processes="kill"),
the default), on every backend; the task's own setup processes live on; ``keep`` gives Harbor's semantics."""

from pathlib import Path

import gymnasium as gym
import pytest

import claw_envs  # noqa: F401  (registers the env ids)
from claw_envs.core.errors import ConfigError
from claw_envs.core.task import load_tasks
from tests.docker_support import docker_image, use_backend  # noqa: F401  (docker_image: a fixture)

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
# a detached loop that keeps writing a perfect reward where the Harbor verifier writes its own
FORGER = ("setsid nohup sh -c 'while :; do mkdir -p /logs/verifier; echo 1 > /logs/verifier/reward.txt; "
          "sleep 0.005; done' >/dev/null 2>&1 &")


@pytest.fixture(params=["local", "docker"])
def backend(request):
    use_backend(request, request.param)
    return request.param


def _bash(cmd: str) -> str:
    return f"```bash\n{cmd}\n```"


def _episode(env, *commands: str) -> dict:
    env.reset(seed=0)
    for c in commands:
        env.step(_bash(c))
    _, reward, terminated, _, info = env.step("submit")
    assert terminated
    return {"reward": reward, **info["outcome"]}


def test_a_background_reward_forger_is_killed_before_the_harbor_verifier(backend):
    env = gym.make("claw/Terminal-v0", tasks=[*load_tasks(FIXTURES / "harbor-hello")], backend=backend)
    try:
        out = _episode(env, "echo 'Hello, nobody' > /app/out.txt", FORGER, "sleep 0.2; cat /logs/verifier/reward.txt")
        assert out["reward"] == 0.0, out  # the wrong answer, not the forged 1
        assert out["agent_processes_killed"] >= 1
        assert out["tests"][0]["agent_processes_killed"] >= 1
    finally:
        env.close()


def test_task_setup_processes_survive_and_an_honest_agent_loses_nothing(backend):
    """write-scheduler-pid's tests check that the four processes its setup started are still running."""
    env = gym.make("claw/Terminal-v0", task_ids=["write-scheduler-pid"], backend=backend)
    try:
        task = env.unwrapped.tasks[0]
        out = _episode(env, task.solution.strip())
        assert out["reward"] == 1.0, out
        assert out["agent_processes_killed"] == 0
    finally:
        env.close()


def _service_task(tmp_path: Path) -> list:
    (tmp_path / "svc.yaml").write_text(
        "id: leave-a-sleeper\ninstruction: start `sleep 1000` in the background and leave it running.\n"
        "tests:\n  - name: the sleeper runs\n    run: pgrep -fx 'sleep 1000'\n")
    return load_tasks(tmp_path / "svc.yaml")


@pytest.mark.parametrize("mode, reward", [("kill", 0.0), ("keep", 1.0)])
def test_keep_leaves_the_agents_processes_to_the_tests(tmp_path, mode, reward):
    use_backend(None, "local")
    env = gym.make("claw/Terminal-v0", tasks=_service_task(tmp_path), agent_processes=mode)
    try:
        # the agent checks its sleeper started (otherwise, on a loaded machine, the tests may look before `setsid`
        # has exec'd `sleep`: a CI run failed so)
        out = _episode(env, "setsid nohup sleep 1000 >/dev/null 2>&1 & "
                            "for _ in $(seq 100); do pgrep -fx 'sleep 1000' >/dev/null && break; sleep 0.1; done")
        assert out["reward"] == reward, out
        assert out["agent_processes_killed"] == (1 if mode == "kill" else 0)
    finally:
        env.close()


def test_agent_processes_rejects_an_unknown_mode():
    with pytest.raises(ConfigError, match="agent_processes"):
        gym.make("claw/Terminal-v0", agent_processes="stop")
