"""Claw envs as Ray actors on a real 2-node local Ray cluster bound to 127.0.0.1 (real sandboxes inside)."""

from __future__ import annotations

import os
import time

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray's addresses on loopback (see connect)

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402

import claw_envs  # noqa: E402,F401
from claw_envs.core.errors import RemoteError  # noqa: E402
from tests.conftest import needs_local  # noqa: E402

ray = pytest.importorskip("ray", reason="Ray hosting needs the [ray] extra (pip install ray)")
pytestmark = [needs_local, pytest.mark.slow]
ACTOR = {"num_cpus": 0.25}  # 8 actors fit on one 2-CPU node once the other is gone
CALL = '<tool_call>{{"name": "python", "arguments": {{"code": "import time; time.sleep({s}); print(7*6)"}}}}</tool_call>'


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 2, "node_ip_address": "127.0.0.1",
                                                      "include_dashboard": False})
    worker = c.add_node(num_cpus=2, node_ip_address="127.0.0.1")
    ray.init(address=c.address, _node_ip_address="127.0.0.1")
    try:
        yield c, worker
    finally:
        ray.shutdown()
        c.shutdown()


def test_ray_listens_on_loopback_only(cluster):
    import psutil

    pids = {p.pid for p in psutil.process_iter(["name", "cmdline"])
            if any("ray" in part for part in (p.info["cmdline"] or [])[:2])}
    addrs = {c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in pids}
    assert addrs and addrs <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, addrs


def test_pool_acquire_release_and_step_deadline(cluster):
    from claw_envs.ray import RayEnvPool

    pool = RayEnvPool("claw/ToolCall-v0", 2, name="claw-test-pool", step_timeout=60, actor_options=ACTOR)
    try:
        other = RayEnvPool.connect("claw-test-pool")  # a second driver's view of the same pool
        a, b = pool.acquire(timeout=60), other.acquire(timeout=60)
        assert other.stats() == {"size": 2, "free": 0, "leased": 2}
        with pytest.raises(RemoteError, match="no env free"):
            pool.acquire(timeout=0.5)
        obs, info = a.reset(seed=0)
        assert obs[0]["role"] == "user" and info["task_id"]
        _, r, te, tr, info = a.step(CALL.format(s=0))
        assert info["next_state"].text.strip() == "42" and not (te or tr)
        b.step_timeout = 2.0  # a step past the deadline: truncated, reported, actor replaced
        b.reset(seed=1)
        old = b.actor
        _, r, te, tr, info = b.step(CALL.format(s=30))
        assert tr and not te and r == 0.0 and info["env_lost"] and "deadline" in info["error"]
        assert info["next_state"].done_reason == "env_lost" and b.actor is not old
        assert b.reset(seed=1)[1]["task_id"]  # the replacement works
        pool.release(a)
        other.release(b)
        assert pool.stats() == {"size": 2, "free": 2, "leased": 0}
        with pool.lease(timeout=60) as env:
            assert env.reset(seed=2)[0]
    finally:
        pool.shutdown()


class ScriptedPolicy:
    """Two slow tool calls, then the right answer; kills the worker node when the second call is sampled."""

    version = 0

    def __init__(self, golds: dict[str, str], on_second_call):
        self.golds, self.on_second_call, self.calls = golds, on_second_call, 0

    def sample(self, observations, tools=None):
        from claw_trainer.policy.hf import Sample

        self.calls += 1
        if self.calls == 2:
            self.on_second_call()
        out = []
        for obs in observations:
            n = sum(m["role"] == "assistant" for m in obs)
            text = CALL.format(s=1) if n < 2 else f"\\boxed{{{self.golds[obs[0]['content']]}}}"
            out.append(Sample((1,), (2,), (-0.1,), text, "stop"))
        return out


def test_node_killed_mid_rollout_truncates_and_replaces(cluster):
    from claw_envs.ray import make_ray_vector
    from claw_trainer.credit import score_episodes
    from claw_trainer.rollout import collect_episodes

    c, worker = cluster
    vec = make_ray_vector("claw/ToolCall-v0", 8, env_kwargs={"answer_tool": "final_answer"}, step_timeout=120,
                          actor_options=ACTOR)
    try:
        nodes = [e.node_id() for e in vec.envs]
        doomed = [i for i, n in enumerate(nodes) if n == worker.node_id]
        assert 0 < len(doomed) < 8, nodes  # spread over both nodes
        seeds = [i // 2 for i in range(8)]
        golds = {}
        for s in seeds:
            probe = gym.make("claw/ToolCall-v0", answer_tool="final_answer")
            obs, _ = probe.reset(seed=s)
            golds[obs[0]["content"]] = probe.unwrapped.task.answer
            probe.close()

        def kill_worker_node():  # raylet and its workers die mid-rollout
            c.remove_node(worker, allow_graceful=False)
            time.sleep(2)

        # one trainer round: every episode to its end, then credit assignment
        episodes = collect_episodes(vec, ScriptedPolicy(golds, kill_worker_node), seeds, "claw/ToolCall-v0")
        lost = [i for i, ep in enumerate(episodes) if ep[-1].next_state.done_reason == "env_lost"]
        assert lost == doomed  # exactly the episodes on the killed node were lost ...
        for i in lost:
            assert ep_truncated_without_outcome(episodes[i])
        assert all(episodes[i][-1].reward == 1.0 for i in range(8) if i not in lost)  # ... the others finished
        samples, counts = score_episodes(episodes, "binary_rl", group_norm=False)
        assert counts["env_errors"] == len(doomed)  # lost episodes are never scored
        assert {s.turn.episode for s in samples} == set(range(8)) - set(lost)
        # the lost slots got replacement actors on the surviving node: the next round runs on all 8
        obs, infos = vec.reset(seed=seeds)
        assert all(o[0]["role"] == "user" for o in obs)
        assert {e.node_id() for e in vec.envs} == {c.head_node.node_id}
        assert sum(e.lost_episodes for e in vec.envs) == len(doomed)
        # a replacement started before Ray marked the node dead may land there and die: reset retries it
        assert sum(e.replaced_actors for e in vec.envs) >= len(doomed)
    finally:
        vec.close()


def ep_truncated_without_outcome(episode) -> bool:
    last = episode[-1]
    return (last.done and last.reward == 0.0 and last.error is not None and "actor died" in last.error
            and last.reward_channels.get("outcome") == 0.0)


def test_claw_train_with_ray_hosting(cluster, tmp_path):
    import json
    from pathlib import Path

    from claw_trainer.cli import main
    from claw_trainer.store import read_turns

    c, _ = cluster
    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "run"
    assert main(["train", "--config", str(root / "configs" / "quickstart.yaml"), "--model.name", "tiny",
                 "--model.cache_dir", str(tmp_path / "cache"), "--judge.backend", "rules", "--judge.hint", "rules",
                 "--env.num_envs", "2", "--env.group_size", "2", "--train.max_new_tokens", "12",
                 "--train.steps", "2", "--train.batch_size", "2", "--train.micro_batch_size", "2",
                 "--train.output_dir", str(out), "--method.group_norm", "false",
                 "--env.hosting", "ray", "--env.ray_address", c.address]) == 0
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1, 2]
    turns = read_turns(out)
    assert turns and all(t["turn"]["next_state"]["kind"] == "tool" for t in turns)
