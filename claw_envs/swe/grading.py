"""Evaluate a model patch in a fresh workspace and grade the log with SWE-bench's own harness code.

The log follows SWE-bench's layout (``>>>>> Start Test Output`` / ``>>>>> Test Exit Code: N`` /
``>>>>> End Test Output``; ``>>>>> Patch Apply Failed`` or ``>>>>> Tests Timed Out`` on those failures), and
``swebench.harness.grading.get_eval_report`` turns it into FAIL_TO_PASS / PASS_TO_PASS results and a
FULL / PARTIAL / NO resolution.

Test-infrastructure tampering cannot pay: after the model patch is applied and before any test runs, every
file that configures pytest or runs code at interpreter start-up (``conftest.py`` anywhere, ``pytest.ini``,
``.pytest.ini``, ``tox.ini``, ``setup.cfg``, ``sitecustomize.py``, ``usercustomize.py``, ``*.pth``, and
``pyproject.toml`` when its ``[tool.pytest]`` section changed) is reset to ``base_commit``, or deleted if
the patch added it. The reset paths are listed in the log and in ``report["test_infrastructure_reset"]``.
Code under test can still misbehave at import time; that is what the FAIL_TO_PASS tests are for.

Results come from a channel the code under test cannot rewrite, never from what it prints. With the default
eval script, pytest loads a one-file plugin under a per-run random module name (so the workspace cannot shadow
it) that writes one ``@@claw-result <nonce> <STATUS> <nodeid>`` record per test phase to a duplicate of the
original stderr pipe as each test finishes; the script adds ``@@claw-exit <nonce> <code>``. Bytes already
written to a pipe cannot be taken back, so a patched package that prints fake ``PASSED`` lines (on stdout, at
exit, even with the nonce) only adds records: per test the worst status wins (ERROR/FAILED over SKIPPED over
PASSED/XFAIL), and conflicting records are listed in ``report["result_conflicts"]``. The trusted records are
rendered as a pytest-style log that SWE-bench's ``get_eval_report`` grades; the full log stays for humans.
An instance with its own ``eval_script`` (another runner) is graded from its log with its ``log_parser``.
"""

from __future__ import annotations

import re
import secrets
import shlex
import tempfile
import tomllib
from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox.base import Sandbox
from claw_envs.swe.instance import SWEInstance
from claw_envs.swe.workspace import materialize

ROOT = "/testbed"


@dataclass(frozen=True)
class EvalResult:
    """``status``: resolved | unresolved | patch_failed | timeout | infra_error."""

    status: str
    resolved: bool
    resolution: str  # RESOLVED_FULL | RESOLVED_PARTIAL | RESOLVED_NO (swebench), or the failure status
    f2p: float
    p2p: float
    report: dict[str, Any] = field(default_factory=dict)
    log: str = ""


EVAL_DIR = "/tmp/claw_eval"
# Source shared by the pytest plugins claw-gym runs in the sandbox (this module's result plugin and
# claw_envs.swe.build.runner's probe): SWE-bench's status of one test phase, and which status is worse.
WORST = {"ERROR": 4, "FAILED": 4, "SKIPPED": 2, "XFAIL": 1, "PASSED": 1}
REPORT_STATUS = f"""
_WORST = {WORST!r}


def report_status(report):
    if report.when == "call":
        if hasattr(report, "wasxfail") and report.skipped:
            return "XFAIL"
        return "PASSED" if report.passed else "FAILED" if report.failed else "SKIPPED"
    if report.failed:
        return "ERROR"
    if report.when == "setup" and report.skipped:
        return "SKIPPED"
    return None
"""
_PLUGIN = """import os
_NONCE = __name__.rsplit("_", 1)[-1]
_FD = os.dup(2)  # the original stderr pipe, duplicated before any test code runs
""" + REPORT_STATUS + """

def pytest_runtest_logreport(report):
    status = report_status(report)
    if status is not None:
        os.write(_FD, ("\\n@@claw-result %s %s %s\\n" % (_NONCE, status, report.nodeid)).encode())
"""


def eval_script(inst: SWEInstance, root: str = ROOT, nonce: str | None = None) -> str:
    """The test script: apply the test patch, run the instance's test files between SWE-bench's markers.
    With ``nonce``, pytest loads the result plugin ``claw_results_<nonce>`` from ``EVAL_DIR`` (see the module
    docstring) and the exit code is also recorded on stderr."""
    if inst.eval_script:
        return inst.eval_script
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT, TEST_EXIT_CODE

    files = " ".join(shlex.quote(f) for f in inst.test_files)
    patched = " ".join(shlex.quote(f) for f in _patched_files(inst.test_patch))
    plugin = (f"PYTHONPATH={EVAL_DIR}${{PYTHONPATH:+:$PYTHONPATH}} " if nonce else "",
              f" -p claw_results_{nonce}" if nonce else "")
    return "\n".join([
        f"cd {root}",
        # as SWE-bench does: the test files go back to base_commit, so edits to them cannot help
        f"git checkout {inst.base_commit} -- {patched} 2>/dev/null || true" if patched and inst.base_commit else ":",
        f"git apply -v {EVAL_DIR}/test.patch",
        f"echo '{START_TEST_OUTPUT}'",
        f"{plugin[0]}python3 -m pytest -rA -p no:cacheprovider{plugin[1]} {files}",
        "rc=$?",
        f"echo \"{TEST_EXIT_CODE}: $rc\"",
        f"echo \"@@claw-exit {nonce} $rc\" >&2" if nonce else ":",
        f"echo '{END_TEST_OUTPUT}'",
    ])


def trusted_log(stderr: str, nonce: str) -> tuple[str, list[str]]:
    """The pytest-style log SWE-bench grades, rendered from the plugin's records in ``stderr`` (worst status
    per test), and the node ids whose records conflict."""
    from swebench.harness.constants import END_TEST_OUTPUT, START_TEST_OUTPUT, TEST_EXIT_CODE

    seen: dict[str, set[str]] = {}
    exits: list[int] = []
    for m in re.finditer(rf"^@@claw-result {nonce} (PASSED|FAILED|ERROR|SKIPPED|XFAIL) (\S.*)$", stderr, re.M):
        seen.setdefault(m.group(2), set()).add(m.group(1))
    for m in re.finditer(rf"^@@claw-exit {nonce} (-?\d+)$", stderr, re.M):
        exits.append(int(m.group(1)))
    lines = [START_TEST_OUTPUT]
    for nodeid, statuses in seen.items():
        lines.append(f"{max(statuses, key=WORST.__getitem__)} {nodeid}")
    if exits:  # several exit records can only be forged: a non-zero one wins
        lines.append(f"{TEST_EXIT_CODE}: {next((c for c in exits if c != 0), 0)}")
    lines.append(END_TEST_OUTPUT)
    conflicts = sorted(n for n, st in seen.items() if len({WORST[x] for x in st}) > 1)
    return "\n".join(lines) + "\n", conflicts


def _patched_files(patch: str) -> list[str]:
    """Files a unified diff touches that exist before it (``--- a/<path>``)."""
    return sorted({ln[6:].strip() for ln in patch.splitlines() if ln.startswith("--- a/")})


def evaluate_patch(sandbox: Sandbox, inst: SWEInstance, model_patch: str, timeout: float = 300.0,
                   model_name: str = "claw-gym") -> EvalResult:
    """Fresh workspace at base_commit -> model patch -> test patch -> eval script -> swebench grading."""
    from swebench.harness.constants import APPLY_PATCH_FAIL, TESTS_TIMEOUT

    try:
        sandbox.reset()
        if inst.source is not None:  # SWE-bench images already hold the repo at base_commit
            materialize(sandbox, inst, ROOT)
        sandbox.write_file(f"{EVAL_DIR}/test.patch", inst.test_patch)
        log = []
        if model_patch.strip():
            sandbox.write_file(f"{EVAL_DIR}/model.patch", model_patch)
            r = sandbox.exec(f"git apply -v {EVAL_DIR}/model.patch", timeout=60, cwd=ROOT)
            log.append(r.output)
            if not r.ok:
                log.append(APPLY_PATCH_FAIL)
                return _grade(inst, model_patch, "\n".join(log), model_name, "patch_failed")
        reset = restore_test_infrastructure(sandbox, inst)
        if reset:
            log.append(f"claw-gym: test infrastructure reset to base_commit: {' '.join(reset)}")
        nonce = None if inst.eval_script else secrets.token_hex(8)
        if nonce:  # written after the model patch: the workspace cannot have placed or shadowed it
            sandbox.write_file(f"{EVAL_DIR}/claw_results_{nonce}.py", _PLUGIN)
        r = sandbox.exec(eval_script(inst, nonce=nonce), timeout=timeout, cwd=ROOT)
        log.append(r.output)
        if r.timed_out:
            log.append(TESTS_TIMEOUT)
            return _grade(inst, model_patch, "\n".join(log), model_name, "timeout", reset)
        if nonce is None:
            return _grade(inst, model_patch, "\n".join(log), model_name, None, reset)
        graded, conflicts = trusted_log(r.stderr, nonce)
        result = _grade(inst, model_patch, graded, model_name, None, reset, parser="parse_log_pytest")
        result.report["result_conflicts"] = conflicts
        result.report["results_from"] = "per-test records of the eval plugin (stderr pipe), not the printed log"
        return EvalResult(result.status, result.resolved, result.resolution, result.f2p, result.p2p,
                          result.report, "\n".join(log))
    except SandboxError as e:
        return EvalResult("infra_error", False, "infra_error", 0.0, 0.0, {"error": str(e)}, str(e))


_INFRA_NAMES = {"conftest.py", "pytest.ini", ".pytest.ini", "tox.ini", "setup.cfg", "sitecustomize.py",
                "usercustomize.py"}


def _is_infra(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name in _INFRA_NAMES or name.endswith(".pth")


def _pytest_section(text: str | None) -> object:
    if text is None:
        return None
    try:
        return tomllib.loads(text).get("tool", {}).get("pytest")
    except tomllib.TOMLDecodeError:
        return "<unparsable>"


def restore_test_infrastructure(sandbox: Sandbox, inst: SWEInstance, root: str = ROOT) -> list[str]:
    """Reset pytest configuration and start-up hooks under ``root`` to ``inst.base_commit``.

    Files the workspace changed, added or deleted relative to ``base_commit`` are considered (untracked and
    git-ignored files included). Returns the paths it reset or deleted. Raises ``SandboxError`` if the
    workspace cannot be inspected (the caller then reports an infrastructure error, never a pass).
    """
    base = shlex.quote(inst.base_commit or "HEAD")
    r = sandbox.exec(f"git diff --name-only --no-renames -z {base} && printf '\\0::untracked::\\0' && "
                     "git ls-files -o -z", timeout=60, cwd=root)
    if not r.ok:
        raise SandboxError(f"could not list the workspace's changes: {r.output.strip()[-300:]}")
    changed, _, untracked = r.stdout.partition("\0::untracked::\0")
    paths = sorted({p for p in (changed.split("\0") + untracked.split("\0")) if p and _is_infra(p)})
    # a pyproject.toml the patch changed or added (the base may have none) counts when its pytest section differs
    for p in sorted({p for p in changed.split("\0") + untracked.split("\0") if p.rsplit("/", 1)[-1] == "pyproject.toml"}):
        before = sandbox.exec(f"git show {base}:{shlex.quote(p)}", timeout=30, cwd=root)
        now = sandbox.exec(f"cat -- {shlex.quote(p)}", timeout=30, cwd=root)
        if _pytest_section(before.stdout if before.ok else None) != _pytest_section(now.stdout if now.ok else None):
            paths.append(p)
    if not paths:
        return []
    q = " ".join(shlex.quote(p) for p in paths)
    script = (f"for p in {q}; do rm -rf -- \"$p\"; "
              f"if git cat-file -e {base}:\"$p\" 2>/dev/null; then git checkout -q {base} -- \"$p\" || exit 1; fi; done")
    r = sandbox.exec(script, timeout=60, cwd=root)
    if not r.ok:
        raise SandboxError(f"could not reset the test infrastructure ({q}): {r.output.strip()[-300:]}")
    return paths


def _grade(inst: SWEInstance, patch: str, log: str, model_name: str, failure: str | None,
           reset: list[str] | None = None, parser: str | None = None) -> EvalResult:
    from swebench.harness.grading import get_eval_report, get_resolution_status
    from swebench.types import TestSpec

    spec = TestSpec(instance_id=inst.instance_id, image="", eval_script_list=[], repo=inst.repo,
                    version=inst.version, FAIL_TO_PASS=list(inst.FAIL_TO_PASS), PASS_TO_PASS=list(inst.PASS_TO_PASS),
                    log_parser=parser or inst.log_parser, eval_type=inst.eval_type)
    pred = {"instance_id": inst.instance_id, "model_name_or_path": model_name, "model_patch": patch}
    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write(log)
        f.flush()
        report = get_eval_report(spec, pred, f.name, include_tests_status=True)[inst.instance_id]
    report["test_infrastructure_reset"] = list(reset or [])
    tests = report.get("tests_status")
    if failure or tests is None:
        return EvalResult(failure or "unresolved", False, failure or "NO", 0.0, 0.0, report, log)

    def frac(key: str) -> float:
        ok, bad = len(tests[key]["success"]), len(tests[key]["failure"])
        return ok / (ok + bad) if ok + bad else 1.0

    resolution = get_resolution_status(tests)
    resolved = bool(report["resolved"])
    return EvalResult("resolved" if resolved else "unresolved", resolved, resolution, frac("FAIL_TO_PASS"),
                      frac("PASS_TO_PASS"), report, log)
