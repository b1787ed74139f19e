"""Benchmark claw/SWE-v0 workspaces and evaluation; baselines are measured in the same run.

* reset latency for a repository of >= 1,000 files (a generated package, plus the fixture's bug) vs
  ``git clone`` of the same repository and ``cp -r`` of its checkout, both on the host disk;
* evaluation overhead: ``evaluate_patch`` (fresh workspace, patches, tests, swebench grading) vs the raw
  ``python3 -m pytest`` run of the same tests in a prepared checkout.

With ``--build``: ``claw swe build`` throughput on a real PyPI package (instances validated per minute, with
``--workers`` sandboxes, vs the same candidates validated with one sandbox in the same run; every kept instance
graded +1 gold / -1 empty) and reset / grade latency on the built instances: ``env.reset`` vs ``git clone`` of
the same repository, ``evaluate_patch`` (fresh workspace, patches, tests, grading) vs the raw pytest run of the
same tests in the same sandbox. Results under ``build`` in bench/results/swe.json; the committed bulk build
report, bench/results/swe_build.json, is summarised alongside.

Usage: python bench/swe.py [--quick] [--build [--package NAME==VERSION] [--workers N]]
   (results merged into bench/results/swe.json)
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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


def _save(key: str, value: dict) -> Path:
    """Merge ``{key: value}`` into bench/results/swe.json (the other mode's results are kept)."""
    dest = Path(__file__).parent / "results" / "swe.json"
    dest.parent.mkdir(exist_ok=True)
    res = json.loads(dest.read_text()) if dest.exists() else {}
    res[key] = value
    dest.write_text(json.dumps(res, indent=2) + "\n")
    return dest


def _build_once(package: str, n: int, workers: int, out: Path) -> dict:
    from claw_envs.swe.build.cli import build, default_cache, parser

    args = parser().parse_args(["--pypi", package, "--synthesize", str(n), "--out", str(out),
                                "--workers", str(workers), "--cache-dir", str(default_cache())])
    t = time.perf_counter()
    report = build(args)
    wall = time.perf_counter() - t
    (src,) = report["sources"]
    v = src["validation_wall_seconds"]
    return {"workers": workers, "wall_s": round(wall, 1), "deps_s": src["deps_seconds"],
            "baseline_s": src["baseline_seconds"], "baseline_tests": src["baseline_tests"],
            "validation_wall_s": v, "candidates": src["tried_this_run"], "kept": src["kept_this_run"],
            "rejected": src["rejected"], "kept_per_min_validation": round(src["kept_this_run"] / v * 60, 2),
            "kept_per_min_total": round(src["kept_this_run"] / wall * 60, 2)}


def build_bench(package: str, n_instances: int, workers: int) -> None:
    """Build throughput with ``workers`` sandboxes vs one (the baseline, same candidates, same run), and reset /
    grade latency on the built instances vs ``git clone`` of the same repository / the raw pytest run of the
    same tests in the same sandbox (see the module docstring)."""
    from claw_envs.swe.grading import ROOT

    res: dict = {"package": package, "instances": n_instances, "cores": os.cpu_count(),
                 "loadavg_1m_at_start": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        serial = _build_once(package, n_instances, 1, tmp / "serial")  # baseline: one sandbox
        par = _build_once(package, n_instances, workers, tmp / "out")
        res["build_serial"], res["build"] = serial, par
        res["throughput_ratio_vs_serial"] = round(par["kept_per_min_validation"] / serial["kept_per_min_validation"], 2)
        insts = load_instances(tmp / "out" / "instances.jsonl")
        env = SWEEnv(tasks=str(tmp / "out" / "instances.jsonl"))
        resets, clones, gold, empty, raw = [], [], [], [], []
        for i, inst0 in enumerate(insts):
            t = time.perf_counter()
            env.reset(options={"task_id": inst0.instance_id})
            resets.append(time.perf_counter() - t)
            inst = env.instance
            _, data = pack_repo(inst.source, inst.setup_patch)  # cached by the reset: the same repository
            host = tmp / f"host{i}"
            host.mkdir()
            subprocess.run(["tar", "-x", "-C", str(host)], input=data, check=True)
            t = time.perf_counter()
            subprocess.run(["git", "clone", "-q", str(host), str(tmp / f"clone{i}")], env=GIT_ENV, check=True)
            clones.append(time.perf_counter() - t)
            shutil.rmtree(host)
            shutil.rmtree(tmp / f"clone{i}")
            t = time.perf_counter()
            ev = evaluate_patch(env._sandbox, inst, inst.patch)
            gold.append(time.perf_counter() - t)
            assert ev.resolved, ev.report
            t = time.perf_counter()
            ev = evaluate_patch(env._sandbox, inst, "")
            empty.append(time.perf_counter() - t)
            assert not ev.resolved, ev.report
            # baseline: the same tests, raw pytest, in the env's workspace with the gold patch applied
            env.reset(options={"task_id": inst0.instance_id})
            sb = env._sandbox
            r = sb.exec(f"cat > /tmp/gold.patch <<'PATCH'\n{inst.patch}PATCH\ngit apply /tmp/gold.patch",
                        timeout=60, cwd=ROOT)
            assert r.ok, r.output
            files = " ".join(shlex.quote(f) for f in inst.test_files)
            t = time.perf_counter()
            r = sb.exec(f"python3 -m pytest -q -p no:cacheprovider {files}", timeout=600, cwd=ROOT)
            raw.append(time.perf_counter() - t)
            assert r.exit_code == 0, r.output[-2000:]
        env.close()
        res["latency_ms"] = {"env_reset_p50": pct(resets, 50), "git_clone_p50": pct(clones, 50),
                             "evaluate_gold_p50": pct(gold, 50), "evaluate_empty_p50": pct(empty, 50),
                             "raw_pytest_p50": pct(raw, 50), "n": len(insts)}
        lat = res["latency_ms"]
        res["reset_ratio_vs_git_clone"] = round(lat["env_reset_p50"] / lat["git_clone_p50"], 2)
        res["grade_ratio_vs_raw_pytest"] = round(lat["evaluate_gold_p50"] / lat["raw_pytest_p50"], 2)
    bulk = Path(__file__).parent / "results" / "swe_build.json"
    if bulk.exists():
        b = json.loads(bulk.read_text())
        res["bulk_report"] = {k: b["total"].get(k) for k in ("candidates", "kept", "rejected",
                                                            "instances_in_dataset", "packages_with_instances")}
    b, s0 = res["build"], res["build_serial"]
    print(f"## claw swe build: {package}, {n_instances} instances, {os.cpu_count()} cores "
          f"(load {res['loadavg_1m_at_start']} at start)\n")
    print(f"- {b['kept']} kept of {b['candidates']} candidates (rejected: {b['rejected']}); suite "
          f"{b['baseline_tests']} tests in {b['baseline_s']:.1f} s")
    print(f"- throughput, {workers} sandboxes: {b['kept_per_min_validation']:.1f} validated instances/min during "
          f"validation, {b['kept_per_min_total']:.1f}/min over the whole build ({b['wall_s']:.0f} s incl. deps, "
          f"baseline)")
    print(f"- baseline, 1 sandbox, same candidates: {s0['kept_per_min_validation']:.1f}/min -> ratio "
          f"{res['throughput_ratio_vs_serial']:.2f}x")
    print(f"- built instances: env.reset p50 {lat['env_reset_p50']:.0f} ms vs git clone of the same repository "
          f"{lat['git_clone_p50']:.0f} ms ({res['reset_ratio_vs_git_clone']:.2f}x)")
    print(f"- evaluate_patch(gold) p50 {lat['evaluate_gold_p50']:.0f} ms, (empty) {lat['evaluate_empty_p50']:.0f} ms "
          f"vs raw pytest of the same tests in the same sandbox {lat['raw_pytest_p50']:.0f} ms "
          f"({res['grade_ratio_vs_raw_pytest']:.2f}x)")
    print(f"\nresults: {_save('build', res)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--build", action="store_true", help="claw swe build throughput and built-instance latency")
    ap.add_argument("--package", default="inflection==0.5.1")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    if a.build:
        build_bench(a.package, 4 if a.quick else 8, a.workers)
        return
    n = 10 if a.quick else 40
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
    for k, v in res.items():
        _save(k, v)


if __name__ == "__main__":
    main()
