"""A small host-side process server that starts commands already under the sandbox's seccomp filter.

Installing a seccomp filter needs code in the child between ``fork`` and ``exec``. Doing that with
``Popen(preexec_fn=...)`` forces a full ``fork`` of the caller (a trainer holding gigabytes of mappings
pays milliseconds per command) and runs Python in a forked child of a threaded program. Instead, one tiny
helper per process (``python3 -I -S -``, stdlib only, its code read from stdin) installs the ``enter`` policy on itself once; every
command is then started by it with ``posix_spawn`` (a ``vfork``), so it inherits the filter for free.

Protocol (``AF_UNIX`` ``SOCK_SEQPACKET``, so messages never interleave between threads): the caller sends
one message ``{"argv", "env"}`` with four descriptors: the command's stdin, stdout, stderr and one end of
a fresh per-command socket pair. On that per-command socket the helper answers the pid (the command leads
its own session and process group), and later its exit status; the caller may send ``K`` there to have
the whole process group killed (before the helper reaps it, so the group id cannot have been reused).
If the caller closes its end early, the group is killed too. The helper exits when the control socket
closes, i.e. when the caller's process (and any child it forked holding the socket) has exited; it does
not use a parent-death signal, which Linux ties to the *thread* that started it.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading

from claw_envs.core.errors import SandboxError

_SERVER = r"""
import ctypes, json, os, select, signal, socket, struct, sys
ctl = socket.socket(fileno=int(sys.argv[1]))
os.set_inheritable(ctl.fileno(), False)
b = ctl.recv(1 << 16); buf = ctypes.create_string_buffer(b, len(b))  # the filter comes first
class P(ctypes.Structure): _fields_ = [("len", ctypes.c_ushort), ("f", ctypes.c_void_p)]
p = P(len(b) // 8, ctypes.cast(buf, ctypes.c_void_p)); c = ctypes.CDLL(None, use_errno=True); u = ctypes.c_ulong
if c.prctl(38, u(1), u(0), u(0), u(0)) or c.syscall(ctypes.c_long(317), u(1), u(0), ctypes.byref(p)):
    sys.exit("claw spawner: could not install the seccomp filter: " + os.strerror(ctypes.get_errno()))
conns, pidfds = {}, {}
def kill(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
while True:
    r = select.select([ctl, *conns, *pidfds], [], [])[0]
    for x in r:
        if x is ctl:
            try:
                msg, fds, _, _ = socket.recv_fds(ctl, 1 << 20, 4)
            except OSError:
                msg, fds = b"", []
            for fd in fds:
                os.set_inheritable(fd, False)
            if not msg:
                sys.exit(0)
            conn = socket.socket(fileno=fds[3])
            try:
                req = json.loads(msg)
                acts = [(os.POSIX_SPAWN_DUP2, fds[i], i) for i in range(3)]
                pid = os.posix_spawn(req["argv"][0], req["argv"], req["env"], file_actions=acts, setsid=True)
            except Exception as e:
                conn.send(b"E" + str(e).encode()[:4000]); conn.close()
                pid = None
            for fd in fds[:3]:
                os.close(fd)
            if pid is not None:
                conn.send(struct.pack("=ci", b"P", pid))
                pfd = os.pidfd_open(pid)
                conns[conn] = pid
                pidfds[pfd] = (pid, conn)
        elif isinstance(x, socket.socket):
            try:
                data = x.recv(16)
            except OSError:
                data = b""
            kill(conns[x])
            if not data:
                conns.pop(x)
        else:
            pid, conn = pidfds.pop(x)
            os.close(x)
            rc = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            if conn in conns:
                try:
                    conn.send(struct.pack("=ci", b"X", rc))
                except OSError:
                    pass
                conns.pop(conn)
            conn.close()
"""


def helper_python() -> str:
    """An interpreter this user may execute for stdlib-only helpers (the venv's may sit under a private
    home; ``/usr/bin/python3`` then serves)."""
    if os.access(os.path.realpath(sys.executable), os.X_OK):
        return sys.executable
    for cand in ("/usr/bin/python3", shutil.which("python3")):
        if cand and os.access(os.path.realpath(cand), os.X_OK):
            return cand
    raise SandboxError("no Python interpreter this user may execute for the sandbox's helper")


class Spawned:
    """A command started by the ``Spawner``: the ``Popen`` subset ``_proc.capture`` uses."""

    def __init__(self, pid: int, conn: socket.socket, stdin, stdout, stderr):
        self.pid, self._conn = pid, conn
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._conn], [], [], 0)[0]:
            self._read()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._conn], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired("sandboxed command", timeout or 0)
            self._read()
        return self.returncode  # type: ignore[return-value]

    def _read(self) -> None:
        msg = self._conn.recv(64)
        self.returncode = struct.unpack("=ci", msg)[1] if msg[:1] == b"X" else -signal.SIGKILL
        self._conn.close()

    def kill_group(self) -> None:
        if self.returncode is None:
            try:
                self._conn.send(b"K")
            except OSError:
                pass


class Spawner:
    """One helper per process (restarted after a ``fork`` or if it died). Thread-safe."""

    _lock = threading.Lock()
    _instances: dict[tuple[int, str], Spawner] = {}

    def __init__(self, bpf: bytes):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen([helper_python(), "-I", "-S", "-", str(theirs.fileno())],
                                          pass_fds=(theirs.fileno(),), stdin=subprocess.PIPE,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          start_new_session=True, env={"PATH": "/usr/bin:/bin"})
            self._proc.stdin.write(_SERVER.encode())  # type: ignore[union-attr]
            self._proc.stdin.close()  # type: ignore[union-attr]
            ours.send(bpf)
        except OSError as e:
            ours.close()
            raise SandboxError(f"could not start the sandbox's process helper: {e}") from e
        finally:
            theirs.close()
        self._ctl = ours

    @classmethod
    def get(cls, policy: str = "enter") -> Spawner:
        from claw_envs.sandbox.seccomp import policy_bpf

        key = (os.getpid(), policy)
        with cls._lock:
            sp = cls._instances.get(key)
            if sp is None or sp._proc.poll() is not None:
                sp = cls._instances[key] = Spawner(policy_bpf(policy))
            return sp

    def popen(self, argv: list[str], *, env: dict[str, str], stdin: bool) -> Spawned:
        """Start ``argv`` (an absolute path first) with pipes for stdout/stderr (and stdin if asked)."""
        in_r, in_w = os.pipe() if stdin else (os.open(os.devnull, os.O_RDONLY), -1)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            socket.send_fds(self._ctl, [json.dumps({"argv": argv, "env": env}).encode()],
                            [in_r, out_w, err_w, theirs.fileno()])
        except OSError as e:
            for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
                if fd >= 0:
                    os.close(fd)
            mine.close()
            err = self._proc.stderr.read().decode(errors="replace") if self._proc.poll() is not None else ""
            raise SandboxError(f"the sandbox's process helper is gone ({e}) {err.strip()[-300:]}") from e
        finally:
            theirs.close()
            for fd in (in_r, out_w, err_w):
                os.close(fd)
        msg = mine.recv(4096)
        if msg[:1] != b"P":
            for fd in (in_w, out_r, err_r):
                if fd >= 0:
                    os.close(fd)
            mine.close()
            raise SandboxError(f"could not start {argv[0]}: {msg[1:].decode(errors='replace') or 'helper died'}")
        pid = struct.unpack("=ci", msg)[1]
        return Spawned(pid, mine, os.fdopen(in_w, "wb") if stdin else None, os.fdopen(out_r, "rb"),
                       os.fdopen(err_r, "rb"))
