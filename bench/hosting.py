"""Hosting overhead: the same env in-process, behind ``claw env-server`` (``RemoteEnv`` over loopback), and in
Ray actors — every figure next to its in-process baseline from the same run.

* per-step latency (p50/p95) of one env stepped sequentially, and the overhead over in-process (p50 delta);
* throughput of ``--envs`` sub-envs in a ``ClawVectorEnv`` (steps/s), and its ratio to one env stepped
  serially in-process;

for a fast env (the step returns at once) and a slow one (each step sleeps ``--slow`` s, like a test run).
The env is a minimal ``ClawEnv`` (``claw/BenchSleep-v0``, defined here) so the figures are the hosting's,
not a sandbox's. Ray runs a local cluster on 127.0.0.1.

Usage: python bench/hosting.py [--envs 8] [--steps 300] [--slow 0.2] [--quick]
       (results also in bench/results/hosting.json)
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import gymnasium as gym  # noqa: E402

from bench.stats import pct  # noqa: E402
from claw_envs.core.env import ClawEnv  # noqa: E402
from claw_envs.core.nextstate import NextState  # noqa: E402

ENV_ID = "claw/BenchSleep-v0"
FULL_ID = f"bench.hosting:{ENV_ID}"


class SleepEnv(ClawEnv):
    """Echoes the action after sleeping ``delay`` s; the observation keeps the task and the last exchange."""

    kind = "terminal"

    def __init__(self, delay: float = 0.0):
        super().__init__()
        self.delay = delay

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.messages = [{"role": "user", "content": "echo what I send"}]
        return self._observe(), {"task_id": "echo"}

    def step(self, action: Any):
        if self.delay:
            time.sleep(self.delay)
        text = str(action)
        self.messages = self.messages[:1] + [{"role": "assistant", "content": text},
                                             {"role": "user", "content": text}]
        ns = NextState(role="environment", kind="terminal", text=text, exit_code=0)
        return self._observe(), 0.0, False, False, self._info(ns, task_id="echo")


if ENV_ID not in gym.registry:
    gym.register(id=ENV_ID, entry_point=SleepEnv, disable_env_checker=True)

ACTION = "```bash\necho hello from the benchmark\n```"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(delay: float, sessions: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "claw_envs.cli", "env-server", "--env", FULL_ID, "--kwargs",
                             json.dumps({"delay": delay}), "--port", str(port), "--max-sessions", str(sessions)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("env server did not start")


def makers(hosting: str, delay: float, n: int, url: str | None) -> list:
    if hosting == "in-process":
        return [lambda: SleepEnv(delay)] * n
    if hosting == "remote":
        from claw_envs.remote import RemoteEnv

        return [lambda: RemoteEnv(url)] * n
    from claw_envs.ray import ray_env_factories
    from claw_envs.ray.actor import EnvFactory

    return ray_env_factories(ENV_ID, n, make=EnvFactory(FULL_ID, {"delay": delay}),
                             actor_options={"num_cpus": 0.1})


def latency(make, steps: int) -> list[float]:
    env = make()
    env.reset(seed=0)
    for _ in range(3):  # warm up (connection, first call)
        env.step(ACTION)
    out = []
    for _ in range(steps):
        t = time.perf_counter()
        env.step(ACTION)
        out.append(time.perf_counter() - t)
    env.close()
    return out


def throughput(fns: list, steps: int) -> float:
    from claw_envs.vector import ClawVectorEnv

    vec = ClawVectorEnv(fns, max_workers=len(fns))
    vec.reset(seed=0)
    vec.step([ACTION] * len(fns))  # warm up
    t = time.perf_counter()
    for _ in range(steps):
        vec.step([ACTION] * len(fns))
    rate = len(fns) * steps / (time.perf_counter() - t)
    vec.close()
    return rate


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300, help="sequential steps for the fast env's latency")
    ap.add_argument("--slow", type=float, default=0.2, help="seconds per step of the slow env")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    fast_steps = 60 if args.quick else args.steps
    slow_steps = 5 if args.quick else 15
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    from claw_envs.ray import connect

    t0 = time.perf_counter()
    connect(runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    ray_start_s = time.perf_counter() - t0
    results: dict[str, Any] = {"envs": args.envs, "slow_step_s": args.slow, "ray_start_s": round(ray_start_s, 1)}
    for name, delay, steps in (("fast", 0.0, fast_steps), ("slow", args.slow, slow_steps)):
        server, url = start_server(delay, args.envs + 1)
        try:
            row: dict[str, Any] = {}
            for hosting in ("in-process", "remote", "ray"):
                lat = latency(makers(hosting, delay, 1, url)[0], steps)
                rate = throughput(makers(hosting, delay, args.envs, url), max(3, steps // 3))
                row[hosting] = {"p50_ms": round(pct(lat, 50), 3), "p95_ms": round(pct(lat, 95), 3),
                                "steps_per_s": round(rate, 1)}
            serial = 1000 / row["in-process"]["p50_ms"] if row["in-process"]["p50_ms"] else float("inf")
            for hosting in ("remote", "ray"):
                r = row[hosting]
                r["overhead_p50_ms"] = round(r["p50_ms"] - row["in-process"]["p50_ms"], 3)
                r["throughput_vs_in_process"] = round(r["steps_per_s"] / row["in-process"]["steps_per_s"], 3)
            for r in row.values():
                r["throughput_vs_serial"] = round(r["steps_per_s"] / serial, 2)
            results[name] = row
        finally:
            server.kill()
            server.wait()
    import ray

    ray.shutdown()
    print(f"{args.envs} envs; slow env = {args.slow:g} s/step; Ray started in {ray_start_s:.1f} s")
    print(f"{'env':5} {'hosting':11} {'p50 ms':>9} {'p95 ms':>9} {'+p50 ms':>8} {'steps/s':>9} "
          f"{'vs in-proc':>10} {'vs serial':>9}")
    for name in ("fast", "slow"):
        for hosting, r in results[name].items():
            print(f"{name:5} {hosting:11} {r['p50_ms']:9.3f} {r['p95_ms']:9.3f} {r.get('overhead_p50_ms', 0):8.3f} "
                  f"{r['steps_per_s']:9.1f} {r.get('throughput_vs_in_process', 1.0):10.3f} "
                  f"{r['throughput_vs_serial']:9.2f}")
    out = ROOT / "bench" / "results" / "hosting.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
