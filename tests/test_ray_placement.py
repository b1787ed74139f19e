"""Ray env actors on a 2-CPU node: a fraction of a CPU each by default, and a cluster that cannot place the envs
fails at once with what it has and what was asked (instead of waiting 10 minutes for actors that never start)."""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep Ray's addresses on loopback

import pytest  # noqa: E402

from claw_envs.core.errors import ConfigError  # noqa: E402
from tests.conftest import needs_local  # noqa: E402

ray = pytest.importorskip("ray", reason="Ray hosting needs the [ray] extra (pip install ray)")
pytest.importorskip("trl", reason="the [train] extra is not installed")
pytestmark = [needs_local, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def two_cpus():
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()


def _args(tmp_path, *extra):
    return ["train", "--config", str(ROOT / "configs" / "quickstart.yaml"), "--model.name", "tiny",
            "--model.cache_dir", str(tmp_path / "cache"), "--env.hosting", "ray", "--env.num_envs", "8",
            "--env.group_size", "4", "--train.max_new_tokens", "8", "--train.steps", "1", "--train.batch_size", "4",
            "--train.micro_batch_size", "4", "--train.max_rounds", "1", "--train.output_dir", str(tmp_path / "run"),
            *extra]


def test_a_cluster_that_cannot_place_the_envs_fails_at_once_with_the_reason(two_cpus, tmp_path):
    from claw_trainer.config import load_config
    from claw_trainer.run import make_vec_env

    cfg = load_config(None, _args(tmp_path, "--env.ray_actor_options", "{num_cpus: 1}")[3:])
    t0 = time.monotonic()
    with pytest.raises(ConfigError) as e:
        make_vec_env(cfg, judges=(None, None))
    assert time.monotonic() - t0 < 30
    msg = str(e.value)
    assert "8 env actors asking 1 CPU each cannot be placed" in msg and "the cluster has 2 CPU on 1 alive node" in msg
    assert "room for 2" in msg and "env.ray_actor_options" in msg


def test_claw_train_with_8_ray_envs_on_a_2_cpu_node(two_cpus, tmp_path):
    import json

    from claw_trainer.cli import main

    assert main(_args(tmp_path)) == 0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [1]
