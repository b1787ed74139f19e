"""The sandbox conformance and hostile suites again, as an unprivileged user, with the same results.

Run as root, this drops to uid/gid 65534 with ``setpriv`` (no groups, no capabilities) and runs
``tests/test_sandbox_conformance.py`` and ``tests/test_hostile.py`` in a child pytest; every test must
end the same way (passed/skipped) as in the root run of this session. A fork bomb or a memory hog in
that run must leave the unprivileged parent alive: the child pytest reporting its results is that proof.
Run as a non-root user, the suites in this session already are the unprivileged run, and this skips.

The docker backend's cases (``[docker...]``) are left out of the comparison: uid 65534 cannot reach the
engine's socket (root's, mode 660), so they skip there with that reason; the docker backend's confinement does
not depend on who calls it (the engine runs every container the same way), so nothing is lost.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
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
    probe = subprocess.run([*NOBODY, sys.executable, "-c", "import claw_envs.sandbox.local, pytest"], cwd=REPO,
                           capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                                "HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"})
    if probe.returncode != 0:
        return ("uid 65534 cannot run this checkout's Python (move the checkout and venv out of a private home): "
                + (probe.stderr.strip().splitlines() or ["?"])[-1][:200])
    return None


def _run_suites(work: Path, tag: str, unprivileged: bool) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    out = work / f"{tag}.json"
    home = work / f"home-{tag}"
    home.mkdir()
    home.chmod(0o777)  # nobody writes here; mkdir(mode=) would be masked by the umask (755)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1", "CLAW_SANDBOX_OUTCOMES": str(out)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--basetemp={work}/tmp-{tag}",
           *SANDBOX_SUITES]
    r = subprocess.run((NOBODY if unprivileged else []) + cmd, cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=1200)
    return r, (json.loads(out.read_text()) if out.exists() else {})


_REASON = _reason()


def _docker_case(nodeid: str) -> bool:
    return "[docker" in nodeid or "-docker]" in nodeid or "-docker-" in nodeid


@pytest.mark.slow
@pytest.mark.skipif(_REASON is not None, reason=str(_REASON))
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
    nobody = {k: v for k, v in nobody.items() if not _docker_case(k)}
    failed = sorted(k for k, v in nobody.items() if v == "failed")
    assert r.returncode == 0 and not failed, f"failed as uid 65534: {failed}\n{r.stdout[-4000:]}"
    assert sum(v == "passed" for v in nobody.values()) >= 50, nobody
    differ = {k: (root.get(k), v) for k, v in nobody.items() if root.get(k) != v}
    assert not differ, f"outcomes differ between root and uid 65534 (root, unprivileged): {differ}"


@pytest.mark.skipif(_LOCAL_REASON is not None, reason=f"local sandbox: {_LOCAL_REASON}")
def test_availability_check_detects_a_host_that_cannot_create_sandboxes():
    """Binaries present but no namespaces allowed (here: a process under the sandbox's own seccomp filter):
    the check says why instead of passing, so tests skip with that reason rather than error."""
    from claw_envs.sandbox.seccomp import launcher_argv

    code = "from claw_envs.sandbox.local import local_sandbox_unavailable as u; print(u())"
    r = subprocess.run(launcher_argv([sys.executable, "-c", code]), cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("cannot create a sandbox here") and "bubblewrap" in r.stdout.lower(), r.stdout


@pytest.mark.skipif(_LOCAL_REASON is not None, reason=f"local sandbox: {_LOCAL_REASON}")
def test_commands_enter_the_pinned_namespaces_never_a_pid(tmp_path):
    """Commands enter the namespaces opened at start, never "whatever process now has that pid": when the
    sandbox dies, a command fails with SandboxError and runs nowhere (not on the host, not elsewhere)."""
    import signal

    from claw_envs.core.errors import SandboxError
    from claw_envs.sandbox.local import LocalSandbox

    marker = tmp_path / "ran-here"
    os.chmod(tmp_path, 0o777)
    with LocalSandbox() as sb:
        argv = sb._nsenter(["/bin/true"])
        assert not any(a.startswith(("-t", "--target")) for a in argv)
        assert all(f"/proc/{os.getpid()}/fd/" in a for a in argv if a.startswith(("--user=", "--mount=", "--net=")))
        os.kill(sb._init_pid, signal.SIGKILL)  # the sandbox's idle process: the sandbox goes down with it
        with pytest.raises(SandboxError, match="not running|died"):
            sb.exec(f"touch {marker}")
    assert not marker.exists()


@pytest.mark.skipif(_LOCAL_REASON is not None, reason=f"local sandbox: {_LOCAL_REASON}")
def test_seccomp_helper_outlives_the_thread_that_started_it_and_exits_with_its_process():
    code = ("import threading\nfrom claw_envs.sandbox.local import LocalSandbox\n"
            "from claw_envs.sandbox.spawner import Spawner\n"
            "def first():\n    with LocalSandbox() as sb:\n        assert sb.exec('echo a').stdout == 'a\\n'\n"
            "t = threading.Thread(target=first); t.start(); t.join()\n"
            "with LocalSandbox() as sb:\n    assert sb.exec('echo b').stdout == 'b\\n'\n"
            "print(Spawner.get()._proc.pid)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    helper = int(r.stdout.split()[-1])
    for _ in range(200):  # its caller exited: the helper sees its control socket close and exits
        if not os.path.exists(f"/proc/{helper}") or open(f"/proc/{helper}/stat").read().split(")")[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the seccomp helper {helper} outlived its caller")
