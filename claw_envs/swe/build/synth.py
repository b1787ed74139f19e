"""Bug synthesis: mutate functions the tests cover, keep a mutation only if tests catch it exactly.

For a source (with its dependencies installed):

1. baseline: the whole suite runs once in the sandbox with the probe's call profile (the repository functions
   each test calls are its coverage), then once more as the grader runs it (its test files named); tests that
   pass both times are the candidates for PASS_TO_PASS, and the second run's time sets the timeouts;
2. candidates: ``mutate.mutations`` of covered functions in the library's own files (never test files), in a
   seeded order that visits functions round-robin, duplicates (same mutated AST) dropped;
3. screen: the tests covering the mutated function run on the mutated tree; a candidate is rejected if no test
   fails, if collection breaks (import-breaking), if a covering test is skipped instead, or if it times out;
4. validate: the instance (base = source + bug committed, gold = inverse diff, F2P = the failing tests, P2P =
   every other passing test, a statement from the failure) must grade +1 with gold and -1 with the empty patch
   on the whole suite (``validate.check_instance``).
"""

from __future__ import annotations

import ast
import hashlib
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from claw_envs.core.errors import TaskError
from claw_envs.sandbox.base import Sandbox
from claw_envs.swe.build.mutate import Mutation, mutations
from claw_envs.swe.build.runner import COLLECT, ProbeResult, probe
from claw_envs.swe.build.source import Source, slug
from claw_envs.swe.build.statement import write_statement
from claw_envs.swe.build.validate import Outcome, check_instance
from claw_envs.swe.instance import SWEInstance
from claw_envs.swe.workspace import prepare

_TEST_PATH = re.compile(r"(^|/)(tests?|testing|docs?|examples?|benchmarks?|scripts)(/|$)|(^|/)test_[^/]*\.py$|"
                        r"_tests?\.py$|(^|/)conftest\.py$|(^|/)(setup|noxfile|fabfile|tasks)\.py$")


def is_test_path(path: str) -> bool:
    return bool(_TEST_PATH.search(path))


def graded_ids(nodeids: list[str] | set[str]) -> dict[str, str]:
    """Node id -> the id SWE-bench's pytest log parser will see. The parser keeps a line's text up to the first
    whitespace, so a parametrized id with a space is known by that prefix; ids whose prefix is shared by
    another test cannot be told apart and are left out."""
    prefix: dict[str, list[str]] = defaultdict(list)
    for t in nodeids:
        prefix[t.split()[0] if t.strip() else t].append(t)
    return {ts[0]: p for p, ts in prefix.items() if len(ts) == 1 and p}


@dataclass
class Baseline:
    """The clean source's suite: passing tests, and the tests covering each (file, first line) function."""

    probe: ProbeResult
    passed: list[str]  # full node ids (those SWE-bench's parser can tell apart)
    covering: dict[tuple[str, int], set[str]] = field(default_factory=dict)
    seconds: float = 0.0


def baseline(sb: Sandbox, inst: SWEInstance, timeout: float) -> Baseline:
    """Run the suite once with the call profile. Raises ``TaskError`` saying why when tests cannot run."""
    t0 = time.monotonic()
    p = probe(sb, inst, profile=True, timeout=timeout)
    if p.error:
        raise TaskError(f"{inst.repo}: the test suite did not run in the sandbox: {p.error}")
    if p.collect_errors:
        first = p.collect_errors[0]
        hint = (" A module is missing: pass --deps 'NAME' for a test-only dependency."
                if "ModuleNotFoundError" in first[1] or "ImportError" in first[1] else "")
        raise TaskError(f"{inst.repo}: pytest could not collect {len(p.collect_errors)} test module(s), first "
                        f"{first[0]}: {first[1][-800:]}{hint}")
    if p.rootdir.rstrip("/") != "/testbed":
        raise TaskError(f"{inst.repo}: pytest's rootdir is {p.rootdir}, not the repository root; add a pytest "
                        "configuration file (pytest.ini, or [tool.pytest.ini_options]) at the root")
    ids = graded_ids(p.status)
    # tests in Python files only: text-file doctests (docs/*.rst) depend on more than the code under test
    passed = sorted(t for t in p.passed if t in ids and t.split("::")[0].endswith(".py"))
    if passed:  # again as the grader runs them (the test files named, no profile): keep what passes both ways
        files = sorted({t.split("::")[0] for t in passed})
        again = probe(sb, inst, files=files, timeout=timeout)
        if again.error:
            raise TaskError(f"{inst.repo}: the suite did not run with its files named: {again.error}")
        passed = [t for t in passed if again.status.get(t) == "PASSED"]
        p.seconds = again.seconds
    if not passed:
        raise TaskError(f"{inst.repo}: no test passes on the unmodified source (pytest exit {p.exitstatus}); "
                        f"output tail: {p.output[-1000:]}. pytest also runs unittest-style tests; another runner "
                        "cannot be used for synthesis")
    covering: dict[tuple[str, int], set[str]] = defaultdict(set)
    everyone = set(passed)
    for nodeid, ids in p.calls.items():
        users = everyone if nodeid == COLLECT else ({nodeid} & everyone)
        for i in ids:
            path, line, _ = p.functions[i]
            if not is_test_path(path):
                covering[(path, line)] |= users
    return Baseline(p, passed, dict(covering), time.monotonic() - t0)


@dataclass
class Candidate:
    mutation: Mutation
    original: str
    tests: list[str]  # covering tests (screen)

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.mutation.path}\0{self.mutation.text}".encode()).hexdigest()[:10]


def candidates(src: Source, base: Baseline, seed: int = 0) -> tuple[list[Candidate], int]:
    """Mutations of covered functions, functions visited round-robin in a seeded order; and the number of
    duplicates dropped."""
    by_file: dict[str, dict[int, set[str]]] = defaultdict(dict)
    for (path, line), tests in base.covering.items():
        if tests and path.endswith(".py"):
            by_file[path][line] = tests
    per_func: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    seen: set[str] = set()
    dupes = 0
    for path in sorted(by_file):
        try:
            text = (src.root / path).read_text()
        except (OSError, UnicodeDecodeError):
            continue
        lines = by_file[path]
        for m in mutations(path, text, set(lines)):
            key = hashlib.sha256(ast.dump(ast.parse(m.text)).encode() + path.encode()).hexdigest()
            if key in seen:
                dupes += 1
                continue
            seen.add(key)
            tests = lines.get(m.func_line) or set()
            per_func[(path, m.function)].append(Candidate(m, text, sorted(tests)))
    rng = random.Random(seed)
    queues = []
    for k in sorted(per_func):  # within a function, operators alternate (each operator's sites shuffled)
        by_op: dict[str, list[Candidate]] = defaultdict(list)
        for c in per_func[k]:
            by_op[c.mutation.operator].append(c)
        ops = sorted(by_op)
        rng.shuffle(ops)
        for o in ops:
            rng.shuffle(by_op[o])
        q: list[Candidate] = []
        while any(by_op.values()):
            q.extend(by_op[o].pop() for o in ops if by_op[o])
        queues.append(q[::-1])
    rng.shuffle(queues)
    out: list[Candidate] = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop())
    return out, dupes


@dataclass
class SynthContext:
    src: Source
    deps: Path | None
    base: Baseline
    timeout: float
    clean: SWEInstance  # the unmodified source as an instance (no bug)


def check_candidate(sb: Sandbox, ctx: SynthContext, cand: Candidate) -> Outcome:
    t0 = time.monotonic()
    m = cand.mutation
    cid = f"{slug(ctx.src.name)}-{slug(ctx.src.version)}__synth-{cand.key}"
    meta = {"kind": "synthesized", "operator": m.operator, "function": m.function, "file": m.path,
            "line": m.line, "mutation": m.description, "source": ctx.src.key, "key": cand.key}

    def out(reason: str, detail: str = "", inst: SWEInstance | None = None) -> Outcome:
        return Outcome(cid, reason, time.monotonic() - t0, inst, detail, meta)

    bug, fix = m.bug_patch(cand.original), m.fix_patch(cand.original)
    buggy = SWEInstance(cid, ctx.clean.repo, "", (), (), patch=fix, setup_patch=bug, source=ctx.src.root,
                        deps=ctx.deps, pythonpath=ctx.src.pythonpath, version=ctx.src.version)
    files = sorted({t.split("::")[0] for t in cand.tests}) or None
    p = probe(sb, buggy, files=files, timeout=ctx.timeout)
    if p.timed_out:
        return out("timeout", f"the mutated suite ran past {ctx.timeout:.0f} s")
    if p.collect_errors:
        return out("breaks_import", p.collect_errors[0][1][-300:])
    if p.error:
        return out("probe_error", p.error[-500:])
    baseline_pass = set(ctx.base.passed)
    failing = sorted(t for t in p.failed if t in baseline_pass)
    if not failing:
        return out("no_test_fails")
    changed = sorted(t for t, s in p.status.items() if t in baseline_pass and s not in ("PASSED", "FAILED", "ERROR"))
    if changed:
        return out("other_tests_changed", f"no longer passing (skipped/xfail): {changed[:5]}")
    missing = sorted(t for t in cand.tests if t in baseline_pass and t not in p.status)
    if missing:
        return out("tests_not_run", f"covering tests not run with the bug: {missing[:5]}")
    ids = graded_ids(ctx.base.probe.status)
    statement = write_statement(ctx.src.root, failing, p.messages, fix)
    f2p = [ids[t] for t in failing if t in ids]
    p2p = [ids[t] for t in ctx.base.passed if t not in set(failing)]
    if not f2p:
        return out("ungradeable_test_ids", f"failing tests SWE-bench's log parser cannot tell apart: {failing[:3]}")
    n_lines = sum(1 for ln in fix.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
    meta.update({"f2p": len(f2p), "p2p": len(p2p), "lines_changed": n_lines, "files_touched": 1})
    inst = prepare(SWEInstance(cid, ctx.clean.repo, statement, tuple(f2p), tuple(p2p), patch=fix,
                               setup_patch=bug, source=ctx.src.root, deps=ctx.deps, pythonpath=ctx.src.pythonpath,
                               version=ctx.src.version, extra={"meta": meta}))
    reason, detail = check_instance(sb, inst, ctx.timeout)
    return out(reason, detail, inst if reason == "kept" else None)


def candidate_stream(cands: list[Candidate], skip: set[str]) -> Iterator[tuple[str, Candidate]]:
    for c in cands:
        if c.key not in skip:
            yield c.key, c
