"""Hostile commands against every sandbox backend (local bubblewrap; docker where an engine answers): each must
be contained, leave the host unchanged and leave the sandbox usable (or reset cleanly). Network targets are
either unreachable by construction or 127.0.0.1. The tests after the parametrized one check mechanisms of the
local backend (the docker backend's own are in tests/test_docker.py)."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox import SandboxConfig, ShellSession, make_sandbox
from claw_envs.sandbox.local import LocalSandbox
from tests.conftest import needs_local
from tests.docker_support import docker_image, use_backend  # noqa: F401  (docker_image: a fixture)

REPO = Path(__file__).resolve().parents[1]
PORT = 18765


def _not(*needles):
    return lambda r: not any(n in r.stdout for n in needles)


def _has(*needles):
    return lambda r: all(n in r.output for n in needles)


def _fails(r):
    return r.exit_code != 0


# a raw system call from inside the sandbox: prints its return value and errno
_SYSCALL = ("python3 -c \"import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); "
            "r=l.syscall(*[int(a) for a in sys.argv[1:]]); print(r, ctypes.get_errno())\"")


def _eperm(r):
    return r.stdout.split()[-2:] == ["-1", "1"]


CASES = [
    # network egress
    ("curl-egress", "curl -sS -m 3 http://1.1.1.1/ 2>&1; echo rc=$?", _not("rc=0")),
    ("python-socket", "python3 -c \"import socket; socket.create_connection(('8.8.8.8', 53), 3)\"", _fails),
    ("dns", "getent hosts example.com || python3 -c \"import socket; socket.gethostbyname('example.com')\"", _fails),
    ("udp-send", "python3 -c \"import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.sendto(b'x', ('8.8.8.8', 53))\"", _fails),
    ("raw-socket", "python3 -c \"import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\"", _fails),
    ("interfaces", "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '", lambda r: r.stdout.split() == ["lo"]),
    # host files
    ("read-canary", "cat {canary}", _fails),
    ("write-canary", "echo pwned > {canary}", _fails),
    ("read-repo", "ls {repo}", _fails),
    ("write-repo", "touch {repo}/pwned", _fails),
    ("host-home", "ls -A /root /home 2>&1", _not(".bashrc", ".ssh", ".pyenv")),
    ("shadow", "cat /etc/shadow", _fails),
    ("etc-write", "echo 'x::0:0::/:/bin/sh' >> /etc/passwd", _fails),
    ("usr-write", "cp /bin/sh /usr/bin/evil", _fails),
    # may finish or run into its timeout (it walks /proc); either way /usr must be intact afterwards (AFTER)
    ("rm-rf-root", "rm -rf --no-preserve-root / 2>/dev/null; echo finished", lambda r: r.timed_out or "finished" in r.stdout, 20),
    ("docker-socket", "ls -l /var/run/docker.sock /run/docker.sock", _fails),
    ("sys-absent", "ls /sys/class/net 2>&1; echo 1 > /sys/kernel/mm/ksm/run", _fails),
    ("dev-disk", "ls /dev/sda /dev/vda /dev/nvme0n1 2>&1", _fails),
    ("env-leak", "env", _not("CLAW_TEST_SECRET")),
    # /proc tricks
    ("proc-host-pids", "ls /proc | grep -c '^[0-9]'", lambda r: int(r.stdout) < 10),
    ("proc-root-escape", "ls /proc/1/root/ 2>&1", _not("work", "home", "boot")),
    ("proc-sysrq", "echo c > /proc/sysrq-trigger", _fails),
    ("proc-hostname", "echo evil > /proc/sys/kernel/hostname", _fails),
    ("proc-oom-adj", "echo -1000 > /proc/self/oom_score_adj", _fails),
    # privilege
    ("setuid-bit", "cp /bin/bash /app/b && chmod u+s /app/b && /app/b -p -c id -u", lambda r: "0" != r.stdout.strip()),
    ("su", "su -c id root </dev/null", _fails),
    ("sudo", "sudo -n id", _fails),
    ("mount", "mount -t tmpfs none /app", _fails),
    ("nested-userns-remount", "unshare -rm sh -c 'mount -o remount,rw /usr && touch /usr/x' ", _fails),
    ("chroot", "chroot / true", _fails),
    ("hostname", "hostname evil", _fails),
    ("raise-ulimit", "ulimit -u unlimited", _fails),
    ("ctypes-setns", "python3 -c \"import ctypes,os; l=ctypes.CDLL(None); fd=os.open('/proc/1/ns/net', os.O_RDONLY); assert l.setns(fd, 0) == 0\"", _fails),
    # resources
    ("fork-bomb", "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived", lambda r: True, 10),
    ("memory-hog", "python3 -c \"x = bytearray(8 * 1024**3)\"", _has("MemoryError")),
    ("disk-fill", "dd if=/dev/zero of=/app/fill bs=1M count=2000 2>/dev/null; stat -c %s /app/fill",
     lambda r: 0 < int(r.stdout) <= 512 * 1024**2),
    ("tmp-fill", "head -c 400M /dev/zero > /tmp/fill; echo rc=$?", _not("rc=0")),
    ("big-sparse-file", "truncate -s 20G /app/sparse && dd if=/dev/zero of=/app/sparse bs=1M count=1 seek=10000 2>&1", _fails),
    # seccomp (claw_envs.sandbox.seccomp): the filter is on every process and answers EPERM
    ("seccomp-on", "grep '^Seccomp:' /proc/self/status /proc/1/status", lambda r: r.stdout.count("\t2\n") == 2),
    ("unshare-user", "unshare -U true", _has("Operation not permitted")),
    ("unshare-net", "unshare -n true", _has("Operation not permitted")),
    ("clone-newuser", _SYSCALL + f" 56 {0x10000000 | 17} 0 0 0 0", _eperm),
    ("clone3", _SYSCALL + " 435 0 0", lambda r: r.stdout.split()[-2:] == ["-1", "38"]),  # ENOSYS: clone() is used
    ("mount-syscall", _SYSCALL + " 165 0 0 0 0 0", _eperm),
    ("ptrace-sibling", "sleep 30 & " + _SYSCALL + " 101 16 $! 0 0", _eperm),
    ("keyctl", _SYSCALL + " 250 0 -3 1", _eperm),
    ("bpf", _SYSCALL + " 321 5 0 0", _eperm),
    ("perf-event-open", _SYSCALL + " 298 0 0 -1 -1 0", _eperm),
    ("io-uring", _SYSCALL + " 425 1 0", _eperm),
    ("userfaultfd", _SYSCALL + " 323 0", _eperm),
    ("kexec", _SYSCALL + " 246 0 0 0 0", _eperm),
    ("ssl-private-absent", "ls -A /etc/ssl", lambda r: r.stdout.split() == ["certs"]),
    ("fd-exhaustion", "python3 -c \"[open('/dev/null') for _ in range(100000)]\"", _has("Too many open files")),
    ("many-files", "mkdir /tmp/m && cd /tmp/m && seq 1 20000 | xargs touch && ls | wc -l", lambda r: r.stdout.strip() == "20000"),
    ("infinite-loop", "while :; do :; done", lambda r: r.timed_out, 2),
    ("cpu-bomb-bg", "for i in 1 2 3 4; do (while :; do :; done) & done; echo started", _has("started")),
    ("output-flood", "head -c 100M /dev/zero | tr '\\0' x", lambda r: r.truncated and len(r.stdout) <= 65536),
    ("stderr-flood", "yes error >&2", lambda r: r.truncated and r.timed_out, 2),
    ("binary-garbage", "head -c 4096 /dev/urandom", lambda r: isinstance(r.stdout, str)),
    ("close-stdout-and-hang", "exec >&- 2>&-; sleep 30", lambda r: r.timed_out, 2),
    ("bind-port", f"python3 -c \"import socket,time; s=socket.socket(); s.bind(('127.0.0.1', {PORT})); s.listen(); time.sleep(3)\" & sleep 0.5; echo bound", _has("bound")),
    # killing things
    ("kill-parent", "kill -9 $PPID; echo still-here", lambda r: True),
    ("kill-all", "kill -9 -1", lambda r: True),
    ("kill-init", "kill -9 1; echo rc=$?", lambda r: True),
]


# checks run in the sandbox after the command, for cases whose effect is only visible afterwards
AFTER = {"rm-rf-root": ("ls /usr/bin | wc -l", lambda out: int(out) > 10)}


@pytest.fixture
def canary(tmp_path):
    p = tmp_path / "canary.txt"
    p.write_text("original")
    return p


def _host_listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("backend", ["local", "docker"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile_command_is_contained(case, backend, canary, monkeypatch, request):
    use_backend(request, backend)
    name, cmd, ok, *t = case
    monkeypatch.setenv("CLAW_TEST_SECRET", "hunter2")
    cfg = SandboxConfig(timeout=t[0] if t else 15, memory="1g", max_processes=64, pool=0)
    sb = make_sandbox(backend, cfg)
    sb.start()
    uid, userns = getattr(sb, "_uid", None), getattr(sb, "userns_inode", None)
    cid = getattr(sb, "container_id", None)
    before = set(os.listdir(REPO))
    try:
        try:
            r = ShellSession(sb).run(cmd.replace("{canary}", str(canary)).replace("{repo}", str(REPO)))
            assert ok(r), f"{name}: not contained: {r}"
        except SandboxError:
            assert name.startswith("kill"), f"{name}: the sandbox died"
        if name in AFTER:
            cmd_after, ok_after = AFTER[name]
            assert ok_after(sb.exec(cmd_after, timeout=10).stdout.strip()), f"{name}: the sandbox's /usr was damaged"
        if name == "bind-port":
            assert not _host_listening(PORT), "a port bound in the sandbox is reachable from the host"
        if name == "fork-bomb":  # capped per sandbox; the caller (the trainer) can still start processes
            if backend == "local":
                assert len(_in_userns(userns)) <= cfg.max_processes + 2, "the fork bomb exceeded max_processes"
            else:  # the container's pids cgroup holds the cap
                pids = Path(f"/sys/fs/cgroup/pids/docker/{sb.container_id}")
                assert int((pids / "pids.max").read_text()) == cfg.max_processes
                assert int((pids / "pids.current").read_text()) <= cfg.max_processes
            assert subprocess.run(["true"]).returncode == 0
        # the sandbox is still usable, or resets cleanly
        try:
            alive = sb.exec("echo alive", timeout=10)
        except SandboxError:
            sb.reset()
            alive = sb.exec("echo alive", timeout=10)
        if not alive.ok:
            sb.reset()
            alive = sb.exec("echo alive", timeout=10)
        assert alive.stdout == "alive\n"
        cid2 = getattr(sb, "container_id", None)
    finally:
        sb.close()
    # the host is unchanged and nothing of the sandbox is left running
    assert canary.read_text() == "original"
    assert set(os.listdir(REPO)) == before
    if backend == "docker":
        for c in {cid, cid2}:
            left = subprocess.run(["docker", "ps", "-aq", "--no-trunc", "--filter", f"id={c}"], capture_output=True,
                                  text=True).stdout.split()
            assert left == [], f"{name}: container {c[:12]} left behind"
        return
    left = _in_userns(userns)
    if uid is not None:  # root mode: the sandbox's own host uid
        left += subprocess.run(["pgrep", "-u", str(uid)], capture_output=True, text=True).stdout.split()
    left = [p for p in left if Path(f"/proc/{p}/stat").exists()
            and Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()[0] != "Z"]
    assert left == [], f"{name}: processes left on the host: {left}"


def _in_userns(inode: int) -> list[str]:
    """Live host pids whose user namespace is the sandbox's."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.stat(f"/proc/{p}/ns/user").st_ino == inode:
                    out.append(p)
            except OSError:
                continue
    return out


@needs_local
@pytest.mark.parametrize("name,cmd", [("ptrace", "sleep 30 & " + _SYSCALL + " 101 16 $! 0 0"),
                                      ("keyctl", _SYSCALL + " 250 0 -3 1"),
                                      ("mount", _SYSCALL + " 165 0 0 0 0 0")])
def test_seccomp_is_what_refuses(name, cmd):
    """Without the filter the same call gets past the permission checks (or succeeds): the filter matters."""
    results = {}
    for on in (True, False):
        with LocalSandbox(SandboxConfig(timeout=10, seccomp=on)) as sb:
            results[on] = sb.exec(cmd).stdout.split()[-2:]
    assert results[True] == ["-1", "1"]
    assert results[False] != ["-1", "1"], f"{name}: refused even without seccomp: {results[False]}"


@needs_local
def test_nested_user_namespaces_are_disabled_even_without_seccomp():
    """Second layer: bubblewrap's --disable-userns (the user-namespace count is exhausted for the sandbox)."""
    with LocalSandbox(SandboxConfig(timeout=10, seccomp=False)) as sb:
        r = sb.exec("unshare -U true")
    assert r.exit_code != 0 and "No space left on device" in r.output


@needs_local
def test_symlinked_copy_is_refused(tmp_path, canary):
    """Harbor/Dockerfile COPY must not follow links out of the build context (into host secrets)."""
    from claw_envs.core.errors import TaskError
    from claw_envs.terminal.dockerfile import replay

    ctx = tmp_path / "environment"
    (ctx / "data").mkdir(parents=True)
    (ctx / "data" / "ok.txt").write_text("fine")
    (ctx / "inside.txt").write_text("in context")
    (ctx / "data" / "link-inside").symlink_to(ctx / "inside.txt")
    cases = {"top": ("secret", "COPY secret /app/secret"), "nested": ("data/leak", "COPY data /app/data"),
             "dir": ("dirlink", "COPY dirlink /app/d")}
    with LocalSandbox(SandboxConfig(timeout=10)) as sb:
        ok = ctx / "Dockerfile"
        ok.write_text("FROM x\nCOPY data /app/data\n")
        replay(ok, sb, ShellSession(sb))
        assert sb.read_file("/app/data/ok.txt") == b"fine"
        assert sb.read_file("/app/data/link-inside") == b"in context"  # a link inside the context is fine
        for link, line in cases.values():
            target = canary.parent if link == "dirlink" else canary
            (ctx / link).symlink_to(target)
            df = ctx / "Dockerfile"
            df.write_text(f"FROM x\n{line}\n")
            with pytest.raises(TaskError, match="outside the build context"):
                replay(df, sb, ShellSession(sb))
            (ctx / link).unlink()
        assert "original" not in sb.exec("cat /app/secret /app/data/leak /app/d/canary.txt 2>&1").stdout


@needs_local
def test_process_cap_is_per_sandbox():
    """A fork bomb fills its own sandbox's process cap only: a second sandbox (same host user when not root)
    still starts its processes, and so does the caller."""
    cfg = SandboxConfig(timeout=15, max_processes=40)
    with LocalSandbox(cfg) as bombed, LocalSandbox(cfg) as other:
        bombed.exec("bomb() { bomb | bomb & }; bomb; sleep 1", timeout=5)
        for _ in range(100):  # on a loaded machine the bomb may take a while to reach the cap
            if len(_in_userns(bombed.userns_inode)) >= 30:
                break
            time.sleep(0.1)
        assert len(_in_userns(bombed.userns_inode)) >= 30, "the bomb did not fill its cap (test is vacuous)"
        r = other.exec("for i in $(seq 25); do sleep 5 & done; jobs -p | wc -l; wait", timeout=15)
        assert r.stdout.strip() == "25", r
        assert subprocess.run(["true"]).returncode == 0



@pytest.mark.parametrize("backend", ["local", "docker"])
def test_read_file_resolves_links_inside_the_sandbox(backend, request, canary):
    """read_file follows a link as the sandbox sees it: never to the host's file of that name."""
    use_backend(request, backend)
    with make_sandbox(backend, SandboxConfig(timeout=10, pool=0)) as sb:
        up = "../" * 12
        sb.exec(f"ln -s /etc/hostname /app/l; ln -s {up}{str(canary).lstrip('/')} /app/esc; mkfifo /app/fifo")
        assert sb.read_file("/app/l").decode() == sb.exec("cat /etc/hostname").stdout
        for path in ("/app/esc", "/app/fifo"):
            with pytest.raises(SandboxError, match="could not read"):
                sb.read_file(path)
