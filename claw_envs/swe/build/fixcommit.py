"""SWE-bench-style instances from a real fix commit of a git repository.

``base_commit`` is the fix's (first) parent, its real id: the source is a one-commit shallow clone at that
commit. The fix is split into the code ``patch`` and the ``test_patch`` (files under test folders, ``test_*.py``,
``*_test.py``, ``conftest.py``). FAIL_TO_PASS / PASS_TO_PASS come from running the test files the test patch
touches (or ``test_files``) in the sandbox before (base + test patch) and after (base + patch + test patch).
"""

from __future__ import annotations

import re
from pathlib import Path

from claw_envs.core.errors import TaskError
from claw_envs.sandbox.base import Sandbox
from claw_envs.swe.build.runner import ProbeResult, probe
from claw_envs.swe.build.source import Source, _git, _read_name, detect_pythonpath, shallow_clone, slug
from claw_envs.swe.build.statement import write_statement
from claw_envs.swe.build.synth import graded_ids
from claw_envs.swe.instance import SWEInstance

_TEST_FILE = re.compile(r"(^|/)(tests?|testing)/|(^|/)test_[^/]*\.py$|_tests?\.py$|(^|/)conftest\.py$")


def is_test_file(path: str) -> bool:
    return bool(_TEST_FILE.search(path))


def split_fix(repo: Path, fix: str) -> tuple[str, str, str, str]:
    """(fix sha, base sha, code patch, test patch) of commit ``fix`` in ``repo``."""
    if not (repo / ".git").exists():
        raise TaskError(f"--repo {repo}: not a git repository (needs .git for --fix-commit)")
    r = _git(repo, "rev-parse", "--verify", f"{fix}^{{commit}}", check=False)
    if r.returncode != 0:
        raise TaskError(f"--fix-commit {fix}: no such commit in {repo}")
    sha = r.stdout.strip()
    r = _git(repo, "rev-parse", "--verify", f"{sha}^", check=False)
    if r.returncode != 0:
        raise TaskError(f"--fix-commit {fix}: a root commit has no parent to be the base")
    base = r.stdout.strip()
    files = [f for f in _git(repo, "diff", "--name-only", "--no-renames", base, sha).stdout.splitlines() if f]
    tests = [f for f in files if is_test_file(f)]
    code = [f for f in files if f not in tests]
    if not code:
        raise TaskError(f"--fix-commit {fix}: the commit changes only test files ({tests}); pick the commit "
                        "that fixes the code")

    def diff(paths: list[str]) -> str:
        if not paths:
            return ""
        return _git(repo, "diff", "--binary", "--no-renames", base, sha, "--", *paths).stdout + "\n"

    return sha, base, diff(code), diff(tests)


def _patched_test_files(test_patch: str) -> list[str]:
    return sorted({m for m in re.findall(r"^\+\+\+ b/(\S+)$", test_patch, re.M) if m.endswith(".py")
                   and not m.endswith("conftest.py")})


def fix_source(repo: Path, base: str, cache: Path) -> Source:
    name, version = _read_name(repo)
    name = name or repo.resolve().name
    key = f"{slug(name)}-{base[:12]}"
    root = cache / "sources" / key
    if not (root / ".git").exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        shallow_clone(repo.resolve(), base, root)
    return Source(name, version or base[:12], root, "commit", key, detect_pythonpath(root, name),
                  {"repo": f"local/{slug(name)}", "path": str(repo.resolve())})


def _why(p: ProbeResult, when: str) -> str:
    if p.error:
        return f"{when}: {p.error}"
    if p.collect_errors:
        e = p.collect_errors[0]
        hint = (" Pass --deps 'NAME' for a missing test dependency."
                if "ModuleNotFoundError" in e[1] or "ImportError" in e[1] else "")
        return f"{when}: pytest could not collect {e[0]}: {e[1][-600:]}{hint}"
    return ""


def build_fix_instance(sb: Sandbox, src: Source, deps: Path | None, fix_sha: str, base: str, patch: str,
                       test_patch: str, test_files: list[str] | None, timeout: float,
                       context: str = "") -> SWEInstance:
    """The instance of a fix commit, F2P/P2P measured in the sandbox. Raises ``TaskError`` saying what to pass."""
    files = test_files or _patched_test_files(test_patch)
    inst = SWEInstance(f"{slug(src.name)}__{slug(src.name)}-{fix_sha[:10]}", src.repo_name, "", (), (),
                       patch=patch, test_patch=test_patch, base_commit=base, source=src.root, deps=deps,
                       pythonpath=src.pythonpath, version=src.version)
    before = probe(sb, inst, [test_patch], files or None, timeout=timeout)
    after = probe(sb, inst, [patch, test_patch], files or None, timeout=timeout)
    why = _why(after, "after the fix")
    if why:
        raise TaskError(why)
    if not after.status:
        raise TaskError(f"pytest ran no test in {files or 'the repository'} (exit {after.exitstatus}). claw-gym "
                        "grades with pytest, which also runs unittest- and nose-style tests; pass --test-files to "
                        "name the test files, or write an eval_script for another runner")
    if after.rootdir.rstrip("/") != "/testbed":
        raise TaskError(f"pytest's rootdir is {after.rootdir}, not the repository root: add a pytest "
                        "configuration file (pytest.ini or [tool.pytest.ini_options]) at the root")
    ids = graded_ids(set(after.status) | set(before.status))
    failing = sorted(t for t, s in after.status.items() if s == "PASSED" and before.status.get(t) != "PASSED"
                     and t in ids)
    f2p = [ids[t] for t in failing]
    p2p = sorted(ids[t] for t, s in after.status.items() if s == "PASSED" and before.status.get(t) == "PASSED"
                 and t in ids)
    if not f2p:
        detail = _why(before, "before the fix") or "every test that passes after the fix passes before it too"
        raise TaskError(f"no test fails before {fix_sha[:10]} and passes after it ({detail}); pass --test-files "
                        "with the tests that show the bug")
    messages = dict(before.messages)
    for t in failing:
        messages.setdefault(t, "E   " + (before.status.get(t) or "not collected before the fix") +
                            (f"\n{_why(before, 'before the fix')}" if before.collect_errors else ""))
    statement = write_statement(src.root, failing, messages, patch, context)
    n_lines = sum(1 for ln in patch.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
    meta = {"kind": "fix_commit", "fix_commit": fix_sha, "f2p": len(f2p), "p2p": len(p2p),
            "lines_changed": n_lines, "files_touched": len(re.findall(r"^diff --git ", patch, re.M)),
            "source": src.key}
    return SWEInstance(inst.instance_id, inst.repo, statement, tuple(f2p), tuple(p2p), patch=patch,
                       test_patch=test_patch, base_commit=base, source=src.root, deps=deps,
                       pythonpath=src.pythonpath, version=src.version, extra={"meta": meta})
