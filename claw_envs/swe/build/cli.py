"""``claw swe build``: instances from a fix commit, a PyPI sdist or a local repository, validated in the sandbox.

Examples::

    claw swe build --repo ~/src/proj --fix-commit 1a2b3c4 --out data/proj
    claw swe build --pypi toolz==1.0.0 --synthesize 20 --out data/synth
    claw swe build --pypi toolz==1.0.0 --pypi more-itertools==10.5.0 --synthesize 30 --out data/synth
    claw swe build --repo ~/src/proj --synthesize 10 --out data/proj-synth

Then ``gym.make("claw/SWE-v0", tasks="data/synth/instances.jsonl")``. Downloads, installed dependencies and
unpacked sources are cached under ``--cache-dir`` (default ``$CLAW_CACHE_DIR/swe`` or ``~/.cache/claw-gym/swe``);
a rerun with the same ``--out`` skips candidates already decided.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console

from claw_envs.core.errors import ClawError, TaskError

console = Console(stderr=True)


def default_cache() -> Path:
    base = os.environ.get("CLAW_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "claw-gym") / "swe"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claw swe build", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", type=Path, help="a local repository (a git checkout or a plain folder)")
    p.add_argument("--fix-commit", action="append", default=[], metavar="SHA",
                   help="with --repo: build one SWE-bench-style instance from this fix commit (repeatable)")
    p.add_argument("--pypi", action="append", default=[], metavar="NAME==VERSION",
                   help="the sdist of this PyPI release, with its own tests (repeatable)")
    p.add_argument("--synthesize", type=int, default=0, metavar="N",
                   help="synthesize up to N validated bugs per source (AST mutations of covered functions)")
    p.add_argument("--out", type=Path, required=True, help="output folder: instances.jsonl, report.json")
    p.add_argument("--cache-dir", type=Path, default=None, help="downloads, sources and dependency installs")
    p.add_argument("--workers", type=int, default=2, help="candidates validated concurrently (one sandbox each)")
    p.add_argument("--timeout", type=float, default=0.0,
                   help="seconds per test run of a candidate (default: 5x the baseline suite, at least 60)")
    p.add_argument("--max-candidates", type=int, default=0, help="stop a source after this many candidates")
    p.add_argument("--seed", type=int, default=0, help="order of the candidates")
    p.add_argument("--deps", action="append", default=[], metavar="REQ",
                   help="an extra requirement to install for the tests (repeatable), e.g. 'hypothesis<7'")
    p.add_argument("--no-deps", action="store_true", help="install nothing (the sandbox's Python only)")
    p.add_argument("--test-files", nargs="+", default=None, help="with --fix-commit: the test files to run")
    p.add_argument("--problem-statement", type=Path, default=None,
                   help="with --fix-commit: a file with the issue text, put before the failing-test description")
    p.add_argument("--rewrite-statement", default=None, metavar="URL/v1/MODEL",
                   help="have a model behind this OpenAI-compatible server (the judge's HTTP backend) rewrite each "
                        "kept instance's statement as an issue; a rewrite holding any line of the gold patch, or a "
                        "failed request, keeps the procedural statement (claw_meta.statement says which)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not args.pypi and args.repo is None:
        parser().error("give --pypi NAME==VERSION or --repo PATH")
    if args.fix_commit and args.repo is None:
        parser().error("--fix-commit needs --repo PATH (a git repository)")
    if not args.fix_commit and args.synthesize <= 0:
        parser().error("give --fix-commit SHA (with --repo) or --synthesize N")
    try:
        report = build(args)
    except ClawError as e:
        console.print(f"[red]error:[/red] {e}")
        return 2
    t = report["total"]
    console.print(f"kept {t['kept']} of {t['candidates']} candidates; dataset {args.out / 'instances.jsonl'} "
                  f"({t['instances_in_dataset']} instances); report {args.out / 'report.json'}")
    return 0 if t["instances_in_dataset"] else 1


def build(args: argparse.Namespace) -> dict:
    from claw_envs.sandbox.local import local_sandbox_unavailable
    from claw_envs.swe.build import source as S
    from claw_envs.swe.build.report import Output, write_report

    why = local_sandbox_unavailable()
    if why:
        raise TaskError(f"the build runs tests in the local sandbox, which cannot run here: {why}")
    cache = (args.cache_dir or default_cache()).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    args.rewriter = _rewriter(args.rewrite_statement)
    output = Output(args.out.resolve())
    t0 = time.monotonic()
    summaries: list[dict] = []
    if args.fix_commit:
        for sha in args.fix_commit:
            summaries.append(_fix_commit(args, cache, output, sha))
    else:
        sources = [(lambda s=s: S.fetch_pypi(s, cache)) for s in args.pypi]
        if args.repo is not None:
            sources.append(lambda: S.local_repo(args.repo, cache))
        for spec, get in zip([*args.pypi, str(args.repo)], sources, strict=False):
            try:
                summaries.append(_synthesize(args, cache, output, get()))
            except Exception as e:  # noqa: BLE001 - one broken source does not stop a bulk build
                if len(sources) == 1:
                    raise
                console.print(f"[red]skipped {spec}:[/red] {type(e).__name__}: {e}")
                summaries.append({"key": spec, "error": str(e)[:2000]})
            write_report(output, summaries, time.monotonic() - t0, args.workers)  # after each source
    return write_report(output, summaries, time.monotonic() - t0, args.workers)


def _rewriter(spec: str | None):
    """The statement rewriter for ``--rewrite-statement`` (its server checked now), or None."""
    if not spec:
        return None
    from claw_envs.prm.backends import OpenAIBackend
    from claw_envs.swe.build.rewrite import Rewriter

    rw = Rewriter.from_spec(spec)
    try:
        OpenAIBackend(rw.base_url, rw.model).check()
    except ClawError as e:
        raise TaskError(f"--rewrite-statement: {str(e).split('. Start')[0]}") from e
    return rw


def _rewritten(args: argparse.Namespace, out):
    """A kept outcome with its statement rewritten when --rewrite-statement is given."""
    rw = getattr(args, "rewriter", None)
    if rw is not None and out.kept and out.instance is not None:
        out.instance = rw.apply(out.instance)
    return out


def _deps(args: argparse.Namespace, src, cache: Path) -> tuple[Path | None, float]:
    from claw_envs.swe.build.deps import install_deps

    if args.no_deps:
        return None, 0.0
    t = time.monotonic()
    return install_deps(src, cache, args.deps, log=lambda m: console.print(f"[dim]{m}[/dim]")), time.monotonic() - t


def _synthesize(args: argparse.Namespace, cache: Path, output, src) -> dict:
    from claw_envs.sandbox import make_sandbox
    from claw_envs.swe.build import synth
    from claw_envs.swe.build.validate import Pool, sandbox_config
    from claw_envs.swe.instance import SWEInstance

    console.print(f"[bold]{src.name} {src.version}[/bold] ({src.kind}, {src.root})")
    decided = output.decided()
    kept_before = sum(1 for r in decided.values() if r["source"] == src.key and r["reason"] == "kept")
    want = max(0, args.synthesize - kept_before)
    if not want:
        console.print(f"{kept_before} instances kept earlier: nothing to do")
        return {"key": src.key, "name": src.name, "version": src.version, "kind": src.kind, **src.meta,
                "kept_this_run": 0, "tried_this_run": 0}
    deps, dep_s = _deps(args, src, cache)
    clean = SWEInstance(f"{src.key}__clean", src.repo_name, "", (), (), source=src.root, deps=deps,
                        pythonpath=src.pythonpath, version=src.version)
    sb = make_sandbox("local", sandbox_config())
    sb.start()
    try:
        base = synth.baseline(sb, clean, timeout=max(args.timeout, 600))
    finally:
        sb.close()
    timeout = args.timeout or max(60.0, 5 * base.probe.seconds)
    cands, dupes = synth.candidates(src, base, args.seed)
    if args.max_candidates:
        cands = cands[:args.max_candidates]
    console.print(f"baseline: {len(base.passed)} passing tests in {base.probe.seconds:.1f} s, "
                  f"{len(base.covering)} covered functions, {len(cands)} candidates ({dupes} duplicates dropped), "
                  f"{kept_before} kept earlier; want {want} more")
    ctx = synth.SynthContext(src, deps, base, timeout, clean)
    pool = Pool(args.workers)
    t = time.monotonic()
    outs = pool.run(synth.candidate_stream(cands, set(decided)), lambda s, c: _rewritten(args, synth.check_candidate(s, ctx, c)),
                    want=want, on_outcome=lambda o: output.record(o, src.key), label=f"{src.name}") if want else []
    return {"key": src.key, "name": src.name, "version": src.version, "kind": src.kind, **src.meta,
            "deps_seconds": round(dep_s, 1), "baseline_tests": len(base.passed),
            "baseline_seconds": round(base.probe.seconds, 2), "covered_functions": len(base.covering),
            "mutation_candidates": len(cands), "duplicates_dropped": dupes, "timeout": timeout,
            "kept_this_run": sum(o.kept for o in outs), "tried_this_run": len(outs),
            "validation_wall_seconds": round(time.monotonic() - t, 1)}


def _fix_commit(args: argparse.Namespace, cache: Path, output, sha: str) -> dict:
    from claw_envs.sandbox import make_sandbox
    from claw_envs.swe.build import fixcommit
    from claw_envs.swe.build.validate import Outcome, check_instance, sandbox_config

    fix, base, patch, test_patch = fixcommit.split_fix(args.repo.resolve(), sha)
    src = fixcommit.fix_source(args.repo, base, cache)
    console.print(f"[bold]{src.name}[/bold] fix {fix[:10]}, base {base[:10]} ({src.root})")
    deps, dep_s = _deps(args, src, cache)
    context = args.problem_statement.read_text() if args.problem_statement else ""
    timeout = args.timeout or 600.0
    sb = make_sandbox("local", sandbox_config())
    sb.start()
    t = time.monotonic()
    try:
        inst = fixcommit.build_fix_instance(sb, src, deps, fix, base, patch, test_patch, args.test_files,
                                            timeout, context)
        reason, detail = check_instance(sb, inst, timeout)
    finally:
        sb.close()
    out = Outcome(inst.instance_id, reason, time.monotonic() - t, inst if reason == "kept" else None, detail,
                  {"key": inst.instance_id, "operator": "fix_commit"})
    out = _rewritten(args, out)
    output.record(out, src.key)
    if not out.kept:
        raise TaskError(f"{inst.instance_id} did not validate: {reason} {detail}")
    return {"key": src.key, "name": src.name, "kind": src.kind, "fix_commit": fix, "base_commit": base,
            "deps_seconds": round(dep_s, 1), "kept_this_run": 1, "tried_this_run": 1}
