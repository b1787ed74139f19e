"""Probe runs: a source's tests, run in the sandbox at some state, with per-test results and (optionally) the
functions each test calls.

A probe materialises the instance's workspace (``claw_envs.swe.workspace.materialize``: repository,
dependencies, ``sys.path``), applies patches, and runs ``python3 -m pytest`` with a one-file plugin that writes
a JSON record to ``/tmp/claw_probe/out.json``: each test's worst status, the failure text of failed tests,
collection errors, pytest's rootdir and, with ``profile``, the repository functions each test called (through
``sys.setprofile``; calls made while collecting are listed under ``<collect>``). The build uses probes to find
tests and their coverage; grading an instance is ``claw_envs.swe.grading.evaluate_patch``'s job, not this.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox.base import Sandbox
from claw_envs.swe.grading import REPORT_STATUS, ROOT
from claw_envs.swe.instance import SWEInstance
from claw_envs.swe.workspace import materialize

PROBE_DIR = "/tmp/claw_probe"
COLLECT = "<collect>"
_PLUGIN = r'''import json, os, sys, threading

_OUT = os.environ["CLAW_PROBE_OUT"]
_ROOT = os.environ["CLAW_PROBE_ROOT"].rstrip("/") + "/"
_PROFILE = os.environ.get("CLAW_PROBE_PROFILE") == "1"
_status, _messages, _calls, _errors = {}, {}, {}, []
_cur = [set()]
_calls["<collect>"] = _cur[0]


def _prof(frame, event, arg):
    if event == "call":
        _cur[0].add(frame.f_code)


if _PROFILE:
    sys.setprofile(_prof)
    threading.setprofile(_prof)


def _set(nodeid, status):
    old = _status.get(nodeid)
    if old is None or _WORST[status] > _WORST[old]:
        _status[nodeid] = status


def pytest_collectreport(report):
    if report.failed:
        _errors.append([report.nodeid, str(report.longreprtext)[-3000:]])


def pytest_runtest_protocol(item, nextitem):
    _cur[0] = _calls.setdefault(item.nodeid, set())


''' + REPORT_STATUS + r'''

def pytest_runtest_logreport(report):
    status = report_status(report)
    if status is None:
        return
    _set(report.nodeid, status)
    if report.failed:
        _messages[report.nodeid] = str(report.longreprtext)[-4000:]


def pytest_sessionfinish(session, exitstatus):
    sys.setprofile(None)
    funcs, index, calls = [], {}, {}
    for nodeid, codes in _calls.items():
        ids = []
        for co in codes:
            f = co.co_filename
            if not f.startswith(_ROOT):
                continue
            key = (f[len(_ROOT):], co.co_firstlineno, co.co_name)
            if key not in index:
                index[key] = len(funcs)
                funcs.append(list(key))
            ids.append(index[key])
        calls[nodeid] = sorted(ids)
    data = {"status": _status, "messages": _messages, "collect_errors": _errors, "exitstatus": int(exitstatus),
            "rootdir": str(session.config.rootpath), "functions": funcs, "calls": calls if _PROFILE else {}}
    with open(_OUT, "w") as f:
        json.dump(data, f)
'''


@dataclass
class ProbeResult:
    """One probe run. ``status``: node id -> PASSED | FAILED | ERROR | SKIPPED | XFAIL."""

    status: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    collect_errors: list[tuple[str, str]] = field(default_factory=list)
    functions: list[tuple[str, int, str]] = field(default_factory=list)
    calls: dict[str, list[int]] = field(default_factory=dict)
    exitstatus: int | None = None
    rootdir: str = ""
    timed_out: bool = False
    seconds: float = 0.0
    output: str = ""
    error: str = ""  # why no record came back (the run crashed, could not apply a patch...)

    @property
    def passed(self) -> set[str]:
        return {t for t, s in self.status.items() if s == "PASSED"}

    @property
    def failed(self) -> set[str]:
        return {t for t, s in self.status.items() if s in ("FAILED", "ERROR")}


def probe(sandbox: Sandbox, inst: SWEInstance, patches: list[str] = (), files: list[str] | None = None,
          profile: bool = False, timeout: float = 300.0) -> ProbeResult:
    """Run the tests (``files``, or pytest's own discovery when None) at ``inst``'s base state plus ``patches``
    in a fresh workspace. Never raises for a failing or hanging run: see ``ProbeResult.error``."""
    t0 = time.monotonic()
    sandbox.reset()
    materialize(sandbox, inst, ROOT)
    for i, patch in enumerate(patches):
        if not patch.strip():
            continue
        sandbox.write_file(f"{PROBE_DIR}/p{i}.patch", patch)
        r = sandbox.exec(f"git apply {PROBE_DIR}/p{i}.patch", timeout=60, cwd=ROOT)
        if not r.ok:
            return ProbeResult(error=f"patch {i} does not apply: {r.output.strip()[-500:]}",
                               seconds=time.monotonic() - t0)
    sandbox.write_file(f"{PROBE_DIR}/claw_probe.py", _PLUGIN)
    args = " ".join(shlex.quote(f) for f in files or [])
    env = (f"PYTHONPATH={PROBE_DIR} CLAW_PROBE_OUT={PROBE_DIR}/out.json CLAW_PROBE_ROOT={ROOT} "
           f"CLAW_PROBE_PROFILE={int(profile)}")
    r = sandbox.exec(f"{env} python3 -m pytest -rA -p no:cacheprovider -p claw_probe {args}", timeout=timeout,
                     cwd=ROOT)
    out = ProbeResult(timed_out=r.timed_out, output=r.output[-6000:])
    try:
        data = json.loads(sandbox.read_file(f"{PROBE_DIR}/out.json"))
    except (SandboxError, json.JSONDecodeError) as e:
        out.error = ("timed out" if r.timed_out else
                     f"pytest exited {r.exit_code} without a result record ({e}); output tail: {r.output[-1500:]}")
        out.seconds = time.monotonic() - t0
        return out
    out.status, out.messages, out.exitstatus = data["status"], data["messages"], data["exitstatus"]
    out.collect_errors = [tuple(e) for e in data["collect_errors"]]
    out.functions = [tuple(f) for f in data["functions"]]
    out.calls, out.rootdir = data["calls"], data["rootdir"]
    out.seconds = time.monotonic() - t0
    return out
