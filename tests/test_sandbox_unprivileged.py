"""The sandbox conformance and hostile suites again, as an unprivileged user, with the same results.

Run as root, this drops to uid/gid 65534 with ``setpriv`` (no groups, no capabilities) and runs
``tests/test_sandbox_conformance.py`` and ``tests/test_hostile.py`` in a child pytest; every test must
end the same way (passed/skipped) as in the root run of this session. A fork bomb or a memory hog in
that run must leave the unprivileged parent alive: the child pytest reporting its results is that proof.
Run as a non-root user, the suites in this session already are the unprivileged run, and this skips.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import _LOCAL_REASON, SANDBOX_SUITES

REPO = Path(__file__).resolve().parents[1]
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def _reason() -> str | None:
    if os.geteuid() != 0:
        return "not root: this session's sandbox suites already ran unprivileged"
    if shutil.which("setpriv") is None:
        return "setpriv (util-linux) not found to drop privileges"
    if _LOCAL_REASON:
        return f"local sandbox: {_LOCAL_REASON}"
    return None


def _run_suites(work: Path, tag: str, unprivileged: bool) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    out = work / f"{tag}.json"
    home = work / f"home-{tag}"
    home.mkdir(mode=0o777)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "CLAW_SANDBOX_OUTCOMES": str(out)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work}/tmp-{tag}",
           *SANDBOX_SUITES]
    r = subprocess.run((NOBODY if unprivileged else []) + cmd, cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=1200)
    return r, (json.loads(out.read_text()) if out.exists() else {})


@pytest.mark.slow
@pytest.mark.skipif(_reason() is not None, reason=str(_reason()))
def test_sandbox_suites_pass_the_same_as_an_unprivileged_user(request):
    work = Path(tempfile.mkdtemp(prefix="claw-unpriv-", dir="/tmp"))
    os.chmod(work, 0o777)
    try:
        r, nobody = _run_suites(work, "nobody", unprivileged=True)
        assert nobody, f"the unprivileged run reported nothing:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
        root = dict(getattr(request.config, "_claw_sandbox_outcomes", {}))
        if not set(nobody) <= set(root):  # the root suites did not run in this session: run them too
            _, root = _run_suites(work, "root", unprivileged=False)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    failed = sorted(k for k, v in nobody.items() if v == "failed")
    assert r.returncode == 0 and not failed, f"failed as uid 65534: {failed}\n{r.stdout[-4000:]}"
    assert sum(v == "passed" for v in nobody.values()) >= 50, nobody
    differ = {k: (root.get(k), v) for k, v in nobody.items() if root.get(k) != v}
    assert not differ, f"outcomes differ between root and uid 65534 (root, unprivileged): {differ}"
