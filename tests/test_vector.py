import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv

import claw_envs  # noqa: F401
from claw_envs.core.task import Check, Task
from claw_envs.terminal.env import TerminalEnv
from claw_envs.vector import ClawVectorEnv
from tests.conftest import needs_local

pytestmark = needs_local
TASK = Task(id="touch", instruction="Create /app/done.", checks=(Check("done", "test -f /app/done"),),
            solution="touch /app/done")


def test_make_vec_steps_envs_concurrently_with_next_step_autoreset():
    vec = gym.make_vec("claw/Terminal-v0", num_envs=4, tasks=[TASK])
    assert isinstance(vec, ClawVectorEnv)
    obs, infos = vec.reset(seed=0)
    assert len(obs) == 4 and list(infos["task_id"]) == ["touch"] * 4
    # envs 0 and 1 solve and submit over two steps; 2 and 3 do something else
    vec.step(["```bash\ntouch /app/done\n```"] * 2 + ["```bash\necho $HOSTNAME\n```"] * 2)
    obs, rew, term, trunc, infos = vec.step(["submit", "submit", "```bash\nls\n```", "submit"])
    assert list(term) == [True, True, False, True] and not trunc.any()
    np.testing.assert_allclose(rew, [1.0, 1.0, 0.0, 0.0])
    assert infos["_outcome"].tolist() == [True, True, False, True]
    assert all(ns.kind == "terminal" for ns in infos["next_state"])
    # NEXT_STEP autoreset: finished envs reset (action ignored), the running one steps
    obs, rew, term, trunc, infos = vec.step(["ignored", "ignored", "submit", "ignored"])
    assert len(obs[0]) == 1 and obs[0][0]["role"] == "user" and rew[0] == 0.0 and not term[0]
    assert term[2]
    vec.close()


class _Boom(TerminalEnv):
    def step(self, action):
        if action == "boom":
            raise RuntimeError("sandbox exploded")
        return super().step(action)


def test_a_failing_sub_env_does_not_take_the_batch_down():
    vec = ClawVectorEnv([lambda: _Boom(tasks=[TASK]) for _ in range(2)])
    vec.reset(seed=0)
    obs, rew, term, trunc, infos = vec.step(["boom", "```bash\ntrue\n```"])
    assert trunc.tolist() == [True, False] and "sandbox exploded" in infos["error"][0]
    obs, *_ = vec.step(["x", "```bash\ntrue\n```"])  # env 0 is reset, env 1 keeps going
    assert len(obs[0]) == 1 and len(obs[1]) == 5
    vec.close()


def test_step_timeout_closes_and_recovers_the_hung_env():
    vec = ClawVectorEnv([lambda: TerminalEnv(tasks=[TASK], command_timeout=30) for _ in range(2)], step_timeout=1.0)
    vec.reset(seed=0)
    obs, rew, term, trunc, infos = vec.step(["```bash\nsleep 20\n```", "```bash\necho ok\n```"])
    assert trunc.tolist() == [True, False] and "timed out" in infos["error"][0]
    obs, rew, term, trunc, infos = vec.step(["ignored", "```bash\necho again\n```"])
    assert len(obs[0]) == 1 and "again" in obs[1][-1]["content"]
    vec.close()


def _make():
    import claw_envs.terminal.env as m
    return m.TerminalEnv(tasks=[TASK])


def test_gymnasium_async_vector_env_works():
    vec = AsyncVectorEnv([_make, _make], shared_memory=False, context="spawn")
    obs, infos = vec.reset(seed=3)
    obs, rew, term, trunc, infos = vec.step(("```bash\ntouch /app/done\n```", "submit"))
    assert term.tolist() == [False, True] and rew.tolist() == [0.0, 0.0]
    obs, rew, term, trunc, infos = vec.step(("submit", "x"))
    assert term[0] and rew[0] == 1.0
    vec.close()
