"""Benchmark claw/SWE-v0 workspaces and evaluation; baselines are measured in the same run.

* reset latency for a repository of >= 1,000 files (a generated package, plus the fixture's bug) vs
  ``git clone`` of the same repository and ``cp -r`` of its checkout, both on the host disk;
* evaluation overhead: ``evaluate_patch`` (fresh workspace, patches, tests, swebench grading) vs the raw
  ``python3 -m pytest`` run of the same tests in a prepared checkout.

Usage: python bench/swe.py [--quick]   (results also written to bench/results/swe.json)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.stats import pct  # noqa: E402
from claw_envs.swe import SWEEnv, evaluate_patch, load_instances  # noqa: E402
from claw_envs.swe.workspace import GIT_ENV, pack_repo, prepare  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "swe" / "calc__calc-1"


def big_repo(root: Path, n_files: int = 1200) -> Path:
    repo = root / "repo"
    shutil.copytree(FIXTURE / "repo", repo)
    for i in range(n_files):
        d = repo / "calc" / "generated" / f"m{i // 100:02d}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"mod_{i:04d}.py").write_text(f'"""Generated module {i}."""\n\nVALUE = {i}\n\n\ndef f(x):\n    return x + {i}\n')
    return repo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    n = 10 if ap.parse_args().quick else 40
    res: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        repo = big_repo(tmp)
        n_files = sum(1 for p in repo.rglob("*") if p.is_file())
        inst = replace(load_instances(FIXTURE)[0], source=repo)
        env = SWEEnv(tasks=[inst])
        env.reset(seed=0)  # packs the repo once (cached), starts the sandbox
        # baselines: a git repo on the host, cloned / copied per reset
        _, data = pack_repo(repo)
        host_repo = tmp / "host"
        host_repo.mkdir()
        subprocess.run(["tar", "-x", "-C", str(host_repo)], input=data, check=True)
        resets, clones, copies = [], [], []
        for i in range(n):  # interleaved
            t = time.perf_counter()
            env.reset(seed=i)
            resets.append(time.perf_counter() - t)
            dst = tmp / f"clone{i}"
            t = time.perf_counter()
            subprocess.run(["git", "clone", "-q", str(host_repo), str(dst)], env=GIT_ENV, check=True)
            clones.append(time.perf_counter() - t)
            shutil.rmtree(dst)
            t = time.perf_counter()
            subprocess.run(["cp", "-r", str(host_repo), str(dst)], check=True)
            copies.append(time.perf_counter() - t)
            shutil.rmtree(dst)
        res["workspace_files"] = n_files
        res["reset_ms"] = {"env_reset_p50": pct(resets, 50), "env_reset_p95": pct(resets, 95),
                           "git_clone_p50": pct(clones, 50), "cp_r_p50": pct(copies, 50)}
        # evaluation overhead on the small fixture
        small = prepare(load_instances(FIXTURE)[0])
        evals, raws = [], []
        checkout = tmp / "raw"
        subprocess.run(["git", "clone", "-q", str(host_repo), str(checkout)], env=GIT_ENV, check=True)
        subprocess.run(["git", "apply", "-"], input=(small.patch + small.test_patch).encode(), cwd=checkout,
                       check=True)
        for _ in range(max(3, n // 4)):
            t = time.perf_counter()
            ev = evaluate_patch(env._sandbox, small, small.patch)
            evals.append(time.perf_counter() - t)
            assert ev.resolved, ev
            t = time.perf_counter()
            subprocess.run(["/usr/bin/python3", "-m", "pytest", "-rA", "-p", "no:cacheprovider", *small.test_files],
                           cwd=checkout, capture_output=True)
            raws.append(time.perf_counter() - t)
        env.close()
        res["eval_ms"] = {"evaluate_patch_p50": pct(evals, 50), "raw_pytest_p50": pct(raws, 50),
                          "overhead_p50": pct(evals, 50) - pct(raws, 50)}
    r = res["reset_ms"]
    print(f"## claw/SWE-v0 benchmark\n\nworkspace: {res['workspace_files']} files, plus .git\n")
    print("| per reset | p50 ms |\n|---|---|")
    print(f"| `git clone` of the repo (baseline) | {r['git_clone_p50']:.1f} |")
    print(f"| `cp -r` of the checkout (baseline) | {r['cp_r_p50']:.1f} |")
    print(f"| env.reset (fresh sandbox + workspace from the cached archive) | {r['env_reset_p50']:.1f} "
          f"(p95 {r['env_reset_p95']:.1f}) |")
    e = res["eval_ms"]
    print(f"\nevaluation: evaluate_patch p50 {e['evaluate_patch_p50']:.0f} ms vs raw pytest "
          f"{e['raw_pytest_p50']:.0f} ms: overhead {e['overhead_p50']:.0f} ms (fresh workspace, patches, grading)")
    out = Path(__file__).parent / "results" / "swe.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
