"""Docker sandbox: the sandbox protocol in a container, driven through the ``docker`` command line.

Images are built offline by ``claw images build`` (``claw_envs.sandbox.images``); ``config.image`` defaults
to ``claw-gym/terminal:latest``. A container runs ``sleep infinity`` under ``--init`` as uid 1000, with:

* ``--network none`` (no interface but a loopback), a ``--read-only`` root, size-capped tmpfs mounts for
  ``config.writable`` and ``/run/claw`` (a tmpfs takes the mode of the image's directory: the images create
  them 1777), seeded from ``/.claw-seed`` when the image has one (task images, see ``images.build_task_image``);
* all capabilities dropped, ``no-new-privileges``, and the seccomp profile generated from the local
  backend's policy (``seccomp.docker_profile``: no ptrace, io_uring, namespaces, mount, bpf, keyring, ...);
* ``--pids-limit max_processes`` (the process cap; RLIMIT_NPROC counts per host uid across containers, so it
  is only set as a loose hard ceiling), ``--cpus 1``, a memory limit of ``config.memory`` plus the tmpfs sizes
  (tmpfs pages are charged to the container), and per command the rlimits of the local backend set by
  ``ulimit`` in the command's shell (``docker run --ulimit as`` is refused): a memory hog gets ``MemoryError``;
* ``--rm`` and the labels ``claw-gym.sandbox=1`` and ``claw-gym.owner=<pid namespace>.<pid>.<start time>``.
  The first start in a process removes containers whose owner process is gone (a crashed or killed run).

**Command reader.** Each container has one long-lived ``docker exec -i`` running a small Python reader
(stdlib only; its capture loop is ``_proc.capture``, the local backend's, sent as source). Requests and
replies are length-prefixed JSON headers followed by raw bytes on the exec's stdin/stdout. The reader is not
dumpable, so the agent (the same uid) cannot open its pipes through ``/proc/<pid>/fd`` to forge replies, and
it reads ``read_file``'s files itself (no helper process whose output pipe could be written to). Each command
runs as ``bash -c`` in its own session: at its timeout the reader kills its whole process group; output is
capped per stream as locally. If the host gets no answer by ``timeout + HOST_GRACE`` or the reader dies (the
agent may kill it), every process of the agent in the container is killed (its files and the shell session's
saved state stay; no agent process can then reach the next reader before it is undumpable) and a new reader
starts; the command's result is a timeout (or exit 137). When the reader's stdin closes (the host process
exited, even by SIGKILL), it kills every process of the container, so the container stops and ``--rm``
removes it.

**Warm pool.** ``reset`` claims a started container (reader ready) from a per-configuration pool of
``config.pool`` containers, refilled in the background, and removes the old one in the background, so a
reset costs no ``docker run``. The pool is created by the first ``reset`` of a configuration (not by
``start``) and emptied at exit.
"""

from __future__ import annotations

import atexit
import collections
import inspect
import json
import logging
import os
import select
import shlex
import shutil
import struct
import subprocess
import threading
import time

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox import _proc
from claw_envs.sandbox._proc import run_capped
from claw_envs.sandbox.base import ExecResult, SandboxConfig, parse_size

log = logging.getLogger(__name__)
HOST_GRACE = 10.0  # seconds past a command's timeout before the host gives up on the reader
_AGENT = "1000:1000"
LABEL = "claw-gym.sandbox"
OWNER_LABEL = "claw-gym.owner"
_ENV = {"HOME": "/root", "USER": "agent", "LOGNAME": "agent", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
        "TERM": "dumb", "SHELL": "/bin/bash"}

_READER_MAIN = r'''
def _main():
    cfg = json.loads(sys.argv[1])
    rin, wout = sys.stdin.buffer, sys.stdout.buffer
    def read(n):
        b = rin.read(n) if n else b""
        if b is None or len(b) < n:
            raise EOFError
        return b
    def send(obj, *blobs):
        h = json.dumps(obj).encode()
        wout.write(struct.pack("!I", len(h)) + h + b"".join(blobs))
        wout.flush()
    if not os.path.exists("/run/claw/.seeded"):
        for d in cfg["seed"]:
            src = "/.claw-seed" + d
            if os.path.isdir(src) and os.path.isdir(d):
                for name in os.listdir(src):
                    a, b = os.path.join(src, name), os.path.join(d, name)
                    if os.path.isdir(a) and not os.path.islink(a):
                        shutil.copytree(a, b, symlinks=True, dirs_exist_ok=True)
                    else:
                        shutil.copy2(a, b, follow_symlinks=False)
        open("/run/claw/.seeded", "w").close()
    env = {**os.environ, **cfg["env"]}
    import ctypes
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no other process opens /proc/<me>/fd
    with open("/proc/1/task/1/children") as f:
        kids = [int(x) for x in f.read().split()]
    send({"ready": True, "pid": os.getpid(), "main": min(kids) if kids else 0})
    try:
        while True:
            req = json.loads(read(struct.unpack("!I", read(4))[0]))
            data = read(req["stdin"]) if req["stdin"] >= 0 else None
            if req.get("read"):  # read a file here: no helper process whose pipe another process could write to
                t0 = time.monotonic()
                try:
                    fd = os.open(req["read"], os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
                    with open(fd, "rb") as f:
                        if not stat.S_ISREG(os.fstat(fd).st_mode):
                            raise OSError(22, "not a regular file")
                        o, e, rc = f.read(req["limit"] + 1), b"", 0
                except OSError as x:
                    o, e, rc = b"", (x.strerror or str(x)).encode(), 1
                tr = len(o) > req["limit"]
                o = o[:req["limit"]]
                send({"rc": rc, "timed_out": False, "truncated": tr, "duration": time.monotonic() - t0,
                      "out": len(o), "err": len(e)}, o, e)
                continue
            o, e, rc, to, tr, dur = capture(req["argv"], timeout=req["timeout"], output_limit=req["limit"],
                                            stdin=data, env={**env, **req["env"]})
            send({"rc": rc, "timed_out": to, "truncated": tr, "duration": dur, "out": len(o), "err": len(e)}, o, e)
    except EOFError:
        pass
    os.kill(-1, signal.SIGKILL)  # the host is gone: stop every process here, so the container stops
_main()
'''


def _reader_source() -> str:
    head = ("from __future__ import annotations\nimport json, os, selectors, shutil, signal, stat, struct, "
            f"subprocess, sys, time\n_CHUNK = {_proc._CHUNK}\n_GRACE = {_proc._GRACE}\n")
    return head + inspect.getsource(_proc.capture) + inspect.getsource(_proc._kill_group) + _READER_MAIN


_READER = _reader_source()
_KILL_READER = """import os, sys
keep = {1, os.getpid(), int(sys.argv[1])}
for p in os.listdir("/proc"):
    if p.isdigit() and int(p) not in keep:
        try:
            os.kill(int(p), 9)
        except OSError:
            pass
"""
_available: list[bool] = []


def docker_unavailable() -> str | None:
    """Why the docker backend cannot run here (no CLI, no engine answering), or None when it can.
    A positive answer is cached for the process."""
    if _available:
        return None
    if shutil.which("docker") is None:
        return "the `docker` command line is not installed (apt-get install docker.io)"
    r = run_capped(["docker", "version", "--format", "{{.Server.Version}}"], timeout=10, output_limit=4096)
    if not r.ok or not r.stdout.strip():
        why = "timed out" if r.timed_out else (r.stderr.strip().splitlines() or ["no answer"])[-1][:200]
        return f"no Docker engine answers ({why}); the docker backend is tested where one runs"
    _available.append(True)
    return None


# -- ownership and the orphan sweep ----------------------------------------------------------------
def _proc_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return None


def _pidns() -> str:
    return str(os.stat("/proc/self/ns/pid").st_ino)


def owner_id(pid: int | None = None) -> str:
    """The owner label of containers started by process ``pid`` (default: this one)."""
    pid = pid or os.getpid()
    return f"{_pidns()}.{pid}.{_proc_start(pid)}"


_swept: set[int] = set()
_sweep_lock = threading.Lock()


def sweep_orphans(force: bool = False) -> list[str]:
    """Remove containers labelled ``claw-gym.sandbox`` whose owner process (in this pid namespace) is gone.
    Runs once per process unless ``force``; returns the removed container ids."""
    with _sweep_lock:
        if os.getpid() in _swept and not force:
            return []
        _swept.add(os.getpid())
        r = subprocess.run(["docker", "ps", "-a", "--filter", f"label={LABEL}=1", "--format",
                            "{{.ID}} {{.Label \"" + OWNER_LABEL + "\"}}"], capture_output=True, text=True, timeout=60)
        dead, ns = [], _pidns()
        for line in r.stdout.splitlines():
            cid, _, owner = line.partition(" ")
            parts = owner.split(".")
            if len(parts) != 3 or parts[0] != ns:
                continue  # another pid namespace's (or a malformed) label: not ours to judge
            if not parts[1].isdigit() or _proc_start(int(parts[1])) != parts[2]:
                dead.append(cid)
        if dead:
            subprocess.run(["docker", "rm", "-f", *dead], capture_output=True, timeout=120)
            log.info("removed %d orphaned sandbox containers", len(dead))
        return dead


# -- one container and its reader -------------------------------------------------------------------
class _ReaderLost(Exception):
    pass


class _Container:
    """A started container with its command reader (a ``docker exec -i`` child of this process)."""

    def __init__(self, run_args: list[str], reader_cfg: dict):
        self.cid = ""
        self.reader_cfg = reader_cfg
        self.proc: subprocess.Popen | None = None
        self.reader_pid = self.main_pid = 0
        self.lock = threading.Lock()
        r = subprocess.run(run_args, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            ids = r.stdout.split()
            if ids:  # created but not started: remove it
                subprocess.run(["docker", "rm", "-f", ids[-1]], capture_output=True, timeout=60)
            raise SandboxError(f"could not start a container: {(r.stderr or r.stdout).strip()[-600:]}")
        self.cid = r.stdout.strip().splitlines()[-1]
        try:
            self.start_reader()
        except BaseException:
            self.remove()
            raise

    def start_reader(self) -> None:
        argv = ["docker", "exec", "-i", "-u", _AGENT, "-w", "/", self.cid, "python3", "-I", "-S", "-c", _READER,
                json.dumps(self.reader_cfg)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     start_new_session=True)
        try:
            hdr, _ = self._read_reply(time.monotonic() + 60)
        except _ReaderLost as e:
            err = self._stop_reader() + " " + str(e)
            if "executable file not found" in err or "python3: not found" in err:
                err += " (the docker backend's command reader needs python3 in the image)"
            raise SandboxError(f"the sandbox's command reader did not start in container {self.cid[:12]}: "
                               f"{err.strip()[-600:]}") from None
        self.reader_pid = hdr["pid"]
        self.main_pid = self.main_pid or hdr["main"]  # the first reader saw the container's sleep alone

    def _read_exact(self, n: int, deadline: float) -> bytes:
        fd = self.proc.stdout.fileno()  # type: ignore[union-attr]
        buf = bytearray()
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise _ReaderLost("no answer")
            chunk = os.read(fd, min(n - len(buf), 1 << 20))
            if not chunk:
                raise _ReaderLost("the reader exited" + (f": {bytes(buf).decode(errors='replace')}" if buf else ""))
            buf += chunk
        return bytes(buf)

    def _read_reply(self, deadline: float) -> tuple[dict, bytes]:
        n = struct.unpack("!I", self._read_exact(4, deadline))[0]
        hdr = json.loads(self._read_exact(n, deadline))
        body = self._read_exact(hdr.get("out", 0) + hdr.get("err", 0), deadline)
        return hdr, body

    def request(self, argv: list[str], *, env: dict[str, str], timeout: float, limit: int,
                stdin: bytes | None, read: str | None = None) -> tuple[dict, bytes]:
        """One command (or, with ``read``, reading that file) through the reader; raises _ReaderLost (the
        reader is then stopped)."""
        if self.proc is None or self.proc.poll() is not None:
            raise _ReaderLost("the reader is not running")
        req = json.dumps({"argv": argv, "env": env, "timeout": timeout, "limit": limit, "read": read,
                          "stdin": -1 if stdin is None else len(stdin)}).encode()
        try:
            self.proc.stdin.write(struct.pack("!I", len(req)) + req + (stdin or b""))  # type: ignore[union-attr]
            self.proc.stdin.flush()  # type: ignore[union-attr]
            return self._read_reply(time.monotonic() + timeout + HOST_GRACE)
        except (OSError, ValueError, _ReaderLost) as e:
            self._stop_reader()
            raise _ReaderLost(str(e)) from None

    def _stop_reader(self) -> str:
        """Kill the reader and every other process of the agent in the container (all but its init and
        ``sleep``: a new reader must start where no agent process can reach it before it is undumpable),
        then its client; returns the client's stderr."""
        if self.reader_pid:
            subprocess.run(["docker", "exec", "-u", _AGENT, self.cid, "python3", "-I", "-S", "-c", _KILL_READER,
                            str(self.main_pid)], capture_output=True, timeout=30)
        err = ""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            try:
                _, e = self.proc.communicate(timeout=10)
                err = e.decode(errors="replace")
            except (subprocess.TimeoutExpired, ValueError, OSError):
                pass
        self.proc, self.reader_pid = None, 0
        return err

    def alive(self) -> bool:
        r = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", self.cid], capture_output=True,
                           text=True, timeout=30)
        return r.stdout.strip() == "true"

    def remove(self) -> None:
        if self.cid:
            subprocess.run(["docker", "rm", "-f", self.cid], capture_output=True, timeout=120)
        if self.proc is not None:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    f.close()  # type: ignore[union-attr]
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


# -- the warm pool ----------------------------------------------------------------------------------
_pool_lock = threading.Lock()
_pools: dict[tuple, collections.deque] = {}
_filling: set[tuple] = set()
POOLED_CONFIGS = 2  # configurations that keep a pool at once (the most recently claimed ones)
_live: set[_Container] = set()  # every container this process holds (pools, sandboxes, being removed)
_reapers: list[threading.Thread] = []  # background removals of reset sandboxes' old containers


def _start(run_args: list[str], reader_cfg: dict) -> _Container:
    c = _Container(run_args, reader_cfg)
    with _pool_lock:
        _live.add(c)
    return c


def _discard(c: _Container, wait: bool) -> None:
    def go() -> None:
        try:
            c.remove()
        finally:
            with _pool_lock:
                _live.discard(c)
    if wait:
        go()
    else:
        t = threading.Thread(target=go, daemon=False, name="claw-docker-rm")
        with _pool_lock:
            _reapers[:] = [r for r in _reapers if r.is_alive()] + [t]
        t.start()


def _claim(key: tuple, run_args: list[str], reader_cfg: dict, size: int) -> _Container:
    """A ready container for ``key``: from its pool when one is waiting, else started now; then refill."""
    with _pool_lock:
        pool = _pools.setdefault(key, collections.deque())
        c = pool.popleft() if pool else None
        refill = size > 0 and key not in _filling
        if refill:
            _filling.add(key)
        # only the POOLED_CONFIGS most recently claimed configurations keep a pool
        _pools[key] = _pools.pop(key)
        evicted = [x for k in list(_pools)[:-POOLED_CONFIGS] for x in _pools.pop(k)]
    for x in evicted:
        _discard(x, wait=False)
    if refill:
        threading.Thread(target=_fill, args=(key, run_args, reader_cfg, size), daemon=True,
                         name="claw-docker-pool").start()
    return c if c is not None else _start(run_args, reader_cfg)


def _fill(key: tuple, run_args: list[str], reader_cfg: dict, size: int) -> None:
    try:
        while True:
            with _pool_lock:
                if len(_pools.get(key, ())) >= size or _closing:
                    return
            try:
                c = _start(run_args, reader_cfg)
            except SandboxError as e:
                log.warning("warm pool: %s", e)
                return
            with _pool_lock:
                if not _closing and key in _pools:
                    _pools[key].append(c)
                    continue
            _discard(c, wait=True)
            return
    finally:
        with _pool_lock:
            _filling.discard(key)


_closing = False


def drain_pools(timeout: float = 120.0) -> int:
    """Remove every waiting (unclaimed) container of this process's pools, after the refills and background
    removals under way have finished; returns how many were removed. Pools refill at the next ``reset``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _pool_lock:
            busy = bool(_filling) or any(r.is_alive() for r in _reapers)
        if not busy:
            break
        time.sleep(0.05)
    with _pool_lock:
        waiting = [c for pool in _pools.values() for c in pool]
        for pool in _pools.values():
            pool.clear()
    for c in waiting:
        _discard(c, wait=True)
    return len(waiting)


@atexit.register
def _shutdown() -> None:
    """Remove every container this process still holds (pools included), in one ``docker rm -f``."""
    global _closing
    with _pool_lock:
        _closing = True
        held = list(_live)
        _pools.clear()
    ids = [c.cid for c in held if c.cid]
    if ids:
        subprocess.run(["docker", "rm", "-f", *ids], capture_output=True, timeout=120)
    for c in held:
        if c.proc is not None and c.proc.poll() is None:
            c.proc.kill()


class DockerSandbox:
    """See the module docstring. Same protocol and ``SandboxConfig`` as ``LocalSandbox``."""

    backend = "docker"

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self.image = self.config.image
        self._c: _Container | None = None
        c = self.config
        for path in c.writable:
            if not path.startswith("/") or path in ("/", "/usr", "/etc", "/proc", "/dev", "/run/claw"):
                raise SandboxError(f"writable path {path!r} must be an absolute path outside /usr, /etc, /proc, "
                                   "/dev and /run/claw")
        # RLIMIT_NPROC is per host uid (all containers share uid 1000): a loose ceiling; --pids-limit caps
        self._prelude = (f"ulimit -HSv {parse_size(c.memory) // 1024} -HSt {int(c.cpu_seconds)} "
                         f"-HSn {int(c.max_open_files)} -HSf {parse_size(c.max_file_size) // 1024} -Hu 65536\n")
        self._env = {**_ENV, **c.env}

    @property
    def container_id(self) -> str | None:
        return self._c.cid if self._c else None

    def _run_args(self) -> list[str]:
        from claw_envs.sandbox.seccomp import docker_profile_path

        c = self.config
        tmpfs = {**c.writable, "/run/claw": "4m"}
        memory = parse_size(c.memory) + sum(parse_size(s) for s in tmpfs.values())
        args = ["docker", "run", "-d", "--rm", "--init", "--label", f"{LABEL}=1", "--label",
                f"{OWNER_LABEL}={owner_id()}", "--user", _AGENT, "--workdir", c.workdir,
                "--network", "bridge" if c.network else "none", "--read-only", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges", "--memory", str(memory), "--memory-swap", str(memory),
                "--pids-limit", str(c.max_processes), "--cpus", "1",
                "--ulimit", f"nofile={c.max_open_files}:{c.max_open_files}"]
        if c.seccomp:
            args += ["--security-opt", f"seccomp={docker_profile_path()}"]
        for path, size in tmpfs.items():
            args += ["--tmpfs", f"{path}:rw,exec,size={parse_size(size)},mode=1777"]
        return [*args, "--entrypoint", "sleep", self.image, "infinity"]

    def _key_and_cfg(self) -> tuple[tuple, list[str], dict]:
        args = self._run_args()
        cfg = {"seed": sorted(self.config.writable), "env": self._env}
        key = (tuple(a for a in args if not a.startswith(f"{OWNER_LABEL}=")), json.dumps(cfg, sort_keys=True))
        return key, args, cfg

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a container (cold: ``docker run`` + the reader, ~0.3 s)."""
        if self._c is not None:
            return
        self._c = self._acquire(pooled=False)

    def _acquire(self, pooled: bool) -> _Container:
        reason = docker_unavailable()
        if reason:
            raise SandboxError(f"{reason}; use backend='local'")
        sweep_orphans()
        key, args, cfg = self._key_and_cfg()
        try:
            if pooled:
                return _claim(key, args, cfg, max(int(self.config.pool), 0))
            return _start(args, cfg)
        except SandboxError as e:
            if "No such image" in str(e) or "Unable to find image" in str(e):
                raise SandboxError(f"image {self.image!r} is not built: run `claw images build` (or `make images`)"
                                   ) from e
            raise

    def close(self) -> None:
        """Remove the container (waits until the engine removed it). Idempotent."""
        c, self._c = self._c, None
        if c is not None:
            _discard(c, wait=True)

    def reset(self) -> None:
        """A fresh container from the warm pool; the old one is removed in the background."""
        old, self._c = self._c, None
        if old is not None:
            _discard(old, wait=False)
        self._c = self._acquire(pooled=True)

    def use_image(self, image: str) -> None:
        """Run this sandbox from ``image`` from now on (restarting it now if it runs another image)."""
        if image == self.image:
            return
        self.image = image
        if self._c is not None:
            self.reset()

    def __enter__(self) -> DockerSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- commands ----------------------------------------------------------------------------------
    def _request(self, argv: list[str], *, timeout: float, limit: int, stdin: bytes | None = None,
                 env: dict[str, str] | None = None) -> ExecResult:
        c = self._c
        if c is None:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        with c.lock:
            t0 = time.monotonic()
            try:
                hdr, body = c.request(argv, env=env or {}, timeout=timeout, limit=limit, stdin=stdin)
            except _ReaderLost:
                took = time.monotonic() - t0
                if not c.alive():
                    raise SandboxError("the sandbox died while running a command; call reset() to get a fresh "
                                       "one") from None
                try:
                    c.start_reader()
                except SandboxError as e:
                    raise SandboxError(f"the sandbox's command reader could not be restarted ({e}); call reset() "
                                       "to get a fresh sandbox") from None
                if took >= timeout:
                    return ExecResult("", "", 124, True, False, took)
                return ExecResult("", "the command killed the sandbox's command reader (it was restarted)\n", 137,
                                  False, False, took)
        o, e = body[:hdr["out"]], body[hdr["out"]:]
        return ExecResult(o.decode("utf-8", "replace"), e.decode("utf-8", "replace"), hdr["rc"], hdr["timed_out"],
                          hdr["truncated"], hdr["duration"])

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult:
        d = shlex.quote(cwd or self.config.workdir)
        script = f"{self._prelude}cd -- {d} 2>/dev/null || {{ echo \"no such directory: \"{d} >&2; exit 1; }}\n{cmd}"
        return self._request(["/bin/bash", "-c", script], timeout=timeout or self.config.timeout,
                             limit=self.config.output_limit, stdin=stdin, env=env)

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        if isinstance(data, str):
            data = data.encode()
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" "$1"'
        r = self._request(["/bin/sh", "-c", script, "sh", path, format(mode, "o")], timeout=60, limit=4096,
                          stdin=data)
        if not r.ok:
            raise SandboxError(f"could not write {path} in the sandbox: {r.output.strip() or r.exit_code} "
                               "(is it under a writable path?)")

    def read_file(self, path: str) -> bytes:
        c = self._c
        if c is None:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        with c.lock:
            try:
                hdr, body = c.request([], env={}, timeout=60, limit=1 << 30, stdin=None, read=path)
            except _ReaderLost:
                c.start_reader() if c.alive() else None
                raise SandboxError(f"could not read {path} in the sandbox: the command reader was lost") from None
        if hdr["rc"] != 0 or hdr["timed_out"] or hdr["truncated"]:
            err = body[hdr["out"]:].decode(errors="replace").strip()
            raise SandboxError(f"could not read {path} in the sandbox: "
                               f"{err or ('too large' if hdr['truncated'] else 'exit ' + str(hdr['rc']))}")
        return body[:hdr["out"]]
