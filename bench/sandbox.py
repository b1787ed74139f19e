"""Local vs docker sandbox backends on this machine, with their baselines measured in the same run.

* step p50: ``TerminalEnv.step`` of one command (parse + persistent shell + exec + observation) and the
  sandbox's bare ``exec``, per backend, against ``subprocess.run(["bash", "-c", cmd])`` on the host (the
  local baseline) and ``docker exec CONTAINER bash -c cmd`` (the docker baseline: one ``docker exec`` per
  step, how the docker backend worked before its command reader);
* reset p50: ``TerminalEnv.reset`` of a small task (fresh sandbox + task set-up), and the sandbox's own
  ``reset`` alone, per backend. Resets
  claim a started sandbox from the warm pool: measured with episodes of 10 steps and ``--think`` seconds
  (default 0.5, an agent's model call) between resets; for docker also back to back (the pool drains: a cold
  ``docker run``) and the cold ``start`` p50.

Usage: python bench/sandbox.py [--quick] [--think S]   (results also in bench/results/sandbox.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.stats import pct, timed  # noqa: E402
from claw_envs.core.task import Check, Task  # noqa: E402
from claw_envs.sandbox import SandboxConfig  # noqa: E402
from claw_envs.terminal.env import TerminalEnv  # noqa: E402

CMD = "echo hello && ls /"
ACTION = f"```bash\n{CMD}\n```"
TASK = Task(id="bench", instruction="benchmark", setup="mkdir -p /app/data && echo x > /app/data/f",
            checks=(Check("ok", "true"),), solution="true")


def steps(backend: str, n: int) -> dict:
    """env.step, sandbox.exec and the backend's raw baseline, interleaved (noise hits all alike)."""
    env = TerminalEnv(tasks=[TASK], backend=backend, max_steps=10**6)
    env.reset(seed=0)
    sb = env.unwrapped._sandbox
    if backend == "local":
        raw_argv = ["bash", "-c", CMD]
    else:
        raw_argv = ["docker", "exec", "-u", "1000:1000", sb.container_id, "bash", "-c", CMD]
    out: dict[str, list[float]] = {"env_step": [], "exec": [], "raw": []}
    for _ in range(n):
        out["raw"] += timed(lambda: subprocess.run(raw_argv, capture_output=True), 1)
        out["exec"] += timed(lambda: sb.exec(CMD), 1)
        out["env_step"] += timed(lambda: env.step(ACTION), 1)
    env.close()
    return {k + "_p50": pct(v, 50) for k, v in out.items()} | {k + "_p95": pct(v, 95) for k, v in out.items()}


def resets(backend: str, n: int, think: float) -> dict:
    env = TerminalEnv(tasks=[TASK], backend=backend, max_steps=10**6)
    env.reset(seed=0)
    env.reset(seed=0)  # the docker backend's pool is created by the first reset of a configuration
    res: dict = {}
    paced = []
    for _ in range(n):
        for _ in range(10):
            env.step(ACTION)
        time.sleep(think)
        paced += timed(lambda: env.reset(seed=0), 1)
    res["reset_p50"], res["reset_p95"] = pct(paced, 50), pct(paced, 95)
    bare = []  # the sandbox's own reset (no task set-up), same pacing
    for _ in range(n):
        sb = env.unwrapped._sandbox
        for _ in range(10):
            sb.exec(CMD)
        time.sleep(think)
        bare += timed(sb.reset, 1)
    res["sandbox_reset_p50"] = pct(bare, 50)
    env.reset(seed=0)
    if backend == "docker":
        from claw_envs.sandbox.docker import DockerSandbox, drain_pools

        back = timed(lambda: env.reset(seed=0), max(n // 3, 5))
        res["reset_back_to_back_p50"] = pct(back, 50)
        env.close()
        drain_pools()
        cold = []
        for _ in range(max(n // 5, 5)):
            sb = DockerSandbox(SandboxConfig(pool=0))
            cold += timed(sb.start, 1)
            sb.close()
        res["cold_start_p50"] = pct(cold, 50)
    else:
        env.close()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--think", type=float, default=0.5, help="seconds between episodes (docker pool refill)")
    args = ap.parse_args()
    n = 30 if args.quick else 100
    from claw_envs.sandbox.docker import docker_unavailable
    from claw_envs.sandbox.images import ensure_image

    why = docker_unavailable()
    if why:
        sys.exit(f"bench/sandbox.py compares local and docker: {why}")
    ensure_image("terminal")
    res: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "load_avg_1m_start": os.getloadavg()[0]},
                 "command": CMD, "n": n, "think_s": args.think}
    for backend in ("local", "docker"):
        res[backend] = steps(backend, n) | resets(backend, max(n // 2, 10), args.think)
    res["machine"]["load_avg_1m_end"] = os.getloadavg()[0]
    lo, do = res["local"], res["docker"]
    res["ratios"] = {"docker_vs_local_step_p50": do["env_step_p50"] / lo["env_step_p50"],
                     "docker_vs_local_reset_p50": do["reset_p50"] / lo["reset_p50"],
                     "docker_step_vs_raw_docker_exec_p50": do["env_step_p50"] / do["raw_p50"],
                     "local_step_overhead_over_raw_bash_ms": lo["env_step_p50"] - lo["raw_p50"],
                     "local_exec_overhead_over_raw_bash_ms": lo["exec_p50"] - lo["raw_p50"]}
    print("| backend | env.step p50 ms | sandbox.exec p50 ms | baseline p50 ms | env.reset p50 ms | sandbox.reset p50 ms |"
          "\n|---|---|---|---|---|---|")
    print(f"| local | {lo['env_step_p50']:.2f} | {lo['exec_p50']:.2f} | {lo['raw_p50']:.2f} (host bash -c) | "
          f"{lo['reset_p50']:.2f} | {lo['sandbox_reset_p50']:.2f} |")
    print(f"| docker | {do['env_step_p50']:.2f} | {do['exec_p50']:.2f} | {do['raw_p50']:.2f} (docker exec) | "
          f"{do['reset_p50']:.2f} | {do['sandbox_reset_p50']:.2f} (warm pool; back to back "
          f"{do['reset_back_to_back_p50']:.0f}, cold start {do['cold_start_p50']:.0f}) |")
    r = res["ratios"]
    print(f"\ndocker/local: step {r['docker_vs_local_step_p50']:.2f}x, reset {r['docker_vs_local_reset_p50']:.2f}x; "
          f"docker step vs one `docker exec` per step: {r['docker_step_vs_raw_docker_exec_p50']:.2f}x; "
          f"local step overhead over raw bash: {r['local_step_overhead_over_raw_bash_ms']:.2f} ms "
          f"(exec alone {r['local_exec_overhead_over_raw_bash_ms']:.2f} ms)")
    print(f"load average (1 min) {res['machine']['load_avg_1m_start']:.1f} at start, "
          f"{res['machine']['load_avg_1m_end']:.1f} at end, on {os.cpu_count()} CPUs")
    out = Path(__file__).parent / "results" / "sandbox.json"
    out.write_text(json.dumps(res, indent=2))
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
