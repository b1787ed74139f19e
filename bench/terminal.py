"""Benchmark claw/Terminal-v0 on this machine; every figure has its baseline measured in the same run.

* reset latency (p50/p95) of a built-in task (fresh sandbox state + task set-up);
* per-step overhead: env.step of a command vs ``subprocess.run(["bash", "-c", cmd])`` of the same command;
* throughput of the thread vector env with 1, 8, 32 and 64 concurrent envs (steps/s, errors);
* the sandbox's security cost: reset and step p50 with the seccomp filter on vs off, in both modes (as this
  user and, when run as root, again as uid 65534 through ``setpriv``), interleaved in one run.

Usage: python bench/terminal.py [--quick] [--security-only]   (results also in bench/results/terminal.json)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.stats import pct, timed  # noqa: E402
from claw_envs.core.task import Check, Task  # noqa: E402
from claw_envs.terminal.env import TerminalEnv  # noqa: E402
from claw_envs.vector import ClawVectorEnv  # noqa: E402

CMD = "echo hello && ls /"
TASK = Task(id="bench", instruction="benchmark", setup="mkdir -p /app/data && echo x > /app/data/f",
            checks=(Check("ok", "true"),), solution="true")


def security_cost(n: int) -> dict:
    """Reset and step p50 (ms) with seccomp off and on, interleaved, as the current user."""
    envs = {on: TerminalEnv(tasks=[TASK], sandbox={"seccomp": on}, max_steps=10**6) for on in (False, True)}
    resets: dict[bool, list[float]] = {False: [], True: []}
    steps: dict[bool, list[float]] = {False: [], True: []}
    action = f"```bash\n{CMD}\n```"
    for on in envs:
        envs[on].reset(seed=0)
    for i in range(n):
        for on in ((False, True) if i % 2 else (True, False)):
            if i % 10 == 0:
                resets[on] += timed(lambda e=envs[on]: e.reset(seed=0), 1)
            steps[on] += timed(lambda e=envs[on]: e.step(action), 1)
    for e in envs.values():
        e.close()
    out = {"uid": os.getuid()}
    for on in (False, True):
        key = "seccomp_on" if on else "seccomp_off"
        out[key] = {"reset_p50": pct(resets[on], 50), "step_p50": pct(steps[on], 50), "resets": len(resets[on]),
                    "steps": len(steps[on])}
    for k in ("reset_p50", "step_p50"):
        out[f"{k}_ratio_on_off"] = out["seccomp_on"][k] / out["seccomp_off"][k]
        out[f"{k}_delta_ms"] = out["seccomp_on"][k] - out["seccomp_off"][k]
    return out


def security_cost_unprivileged(n: int) -> dict | None:
    """``security_cost`` again as uid 65534 (only when run as root with setpriv available)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    with tempfile.TemporaryDirectory(prefix="claw-bench-") as d:
        os.chmod(d, 0o777)
        out = Path(d) / "u.json"
        code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
                f"from bench.terminal import security_cost; json.dump(security_cost({n}), open({str(out)!r}, 'w'))")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                            code], env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": d,
                                        "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True, text=True)
        if r.returncode != 0 or not out.exists():
            return {"error": r.stderr.strip()[-500:]}
        return json.loads(out.read_text())


def print_security(rows: dict) -> None:
    print("| mode | seccomp | reset p50 ms | step p50 ms |\n|---|---|---|---|")
    for mode, r in rows.items():
        if not r or "error" in r:
            print(f"| {mode} | - | {r.get('error', 'not run') if r else 'not run (needs root + setpriv)'} | |")
            continue
        for key in ("seccomp_off", "seccomp_on"):
            print(f"| {mode} (uid {r['uid']}) | {key.split('_')[1]} | {r[key]['reset_p50']:.2f} | "
                  f"{r[key]['step_p50']:.2f} |")
        print(f"| {mode} | on/off ratio | {r['reset_p50_ratio_on_off']:.2f}x ({r['reset_p50_delta_ms']:+.2f} ms) | "
              f"{r['step_p50_ratio_on_off']:.2f}x ({r['step_p50_delta_ms']:+.2f} ms) |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--security-only", action="store_true", help="only the seccomp on/off comparison")
    args = ap.parse_args()
    n = 30 if args.quick else 200
    res: dict = {}
    mode = "root" if os.geteuid() == 0 else "unprivileged"
    res["security"] = {mode: security_cost(n), "unprivileged" if mode == "root" else "root (not run)":
                       security_cost_unprivileged(n)}
    if args.security_only:
        print("## sandbox security cost (seccomp on vs off), one run\n")
        print_security(res["security"])
        return

    env = TerminalEnv(tasks=[TASK])
    env.reset(seed=0)
    resets = timed(lambda: env.reset(seed=0), n)
    res["reset_ms"] = {"p50": pct(resets, 50), "p95": pct(resets, 95)}

    action = f"```bash\n{CMD}\n```"
    steps, raw, execs = [], [], []
    for i in range(n):  # interleaved, so machine noise hits baseline and candidates alike
        if i % 10 == 0:  # episodes of 10 steps, as by default (the observation grows with the episode)
            env.reset(seed=0)
        raw += timed(lambda: subprocess.run(["bash", "-c", CMD], capture_output=True), 1)
        execs += timed(lambda: env._sandbox.exec(CMD), 1)
        steps += timed(lambda: env.step(action), 1)
    res["step_ms"] = {"env_step_p50": pct(steps, 50), "env_step_p95": pct(steps, 95),
                      "sandbox_exec_p50": pct(execs, 50), "raw_subprocess_p50": pct(raw, 50),
                      "overhead_p50": pct(steps, 50) - pct(raw, 50),
                      "ratio_p50": pct(steps, 50) / pct(raw, 50)}
    env.close()

    res["throughput"] = []
    for k in (1, 8, 32, 64):
        vec = ClawVectorEnv([lambda: TerminalEnv(tasks=[TASK], max_steps=10**6) for _ in range(k)])
        t = time.perf_counter()
        vec.reset(seed=0)
        reset_s = time.perf_counter() - t
        rounds = max(3, (60 if not args.quick else 15) // k)
        errors = 0
        t = time.perf_counter()
        for _ in range(rounds):
            _, _, _, trunc, infos = vec.step([action] * k)
            errors += int(trunc.sum()) + len([e for e in infos.get("error", []) if e])
        dt = time.perf_counter() - t
        vec.close()
        res["throughput"].append({"envs": k, "steps_per_s": k * rounds / dt, "vector_reset_s": reset_s,
                                  "errors": errors, "steps": k * rounds})

    print("## claw/Terminal-v0 benchmark\n")
    print(f"reset latency: p50 {res['reset_ms']['p50']:.2f} ms, p95 {res['reset_ms']['p95']:.2f} ms\n")
    s = res["step_ms"]
    print("| command `" + CMD + "` | p50 ms |\n|---|---|")
    print(f"| raw `subprocess.run(['bash','-c',cmd])` (baseline) | {s['raw_subprocess_p50']:.2f} |")
    print(f"| sandbox.exec | {s['sandbox_exec_p50']:.2f} |")
    print(f"| env.step (parse + session + exec + observation) | {s['env_step_p50']:.2f} |")
    print(f"\nstep overhead vs baseline: {s['overhead_p50']:.2f} ms p50 ({s['ratio_p50']:.2f}x)\n")
    print("| concurrent envs | steps/s | vector reset s | errors |\n|---|---|---|---|")
    for row in res["throughput"]:
        print(f"| {row['envs']} | {row['steps_per_s']:.0f} | {row['vector_reset_s']:.2f} | {row['errors']} |")
    print("\n## sandbox security cost (seccomp on vs off)\n")
    print_security(res["security"])
    out = Path(__file__).parent / "results" / "terminal.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
