"""Local sandbox on bubblewrap: the default backend, no container engine needed.

Layout of the sandbox (built with bubblewrap, not bound onto the host's ``/``):

* ``/usr`` (and the ``/bin``, ``/lib``... links) and a curated, read-only ``/etc`` from the host;
  nothing else of the host is visible: no home directories, no repositories, no host ``/proc``.
* every path in ``config.writable`` (default ``/app`` ``/tmp`` ``/root`` ``/logs`` ``/tests``) is a private,
  size-capped tmpfs; the root itself is read-only. Nothing is written to the host's disk.
* its own user, mount, pid, network, ipc, uts and cgroup namespaces: no network at all (only a down
  loopback), a private process tree; the agent runs as uid 1000 ("agent") with no capabilities, and
  cannot create further user namespaces (``bwrap --disable-userns``).
* a seccomp filter on every process (``claw_envs.sandbox.seccomp``): no namespace creation, mount, ptrace,
  keyring, bpf, perf, kexec, modules, io_uring...

Two modes, the same guarantees (see the README's sandbox section):

* **root**: bubblewrap runs as an otherwise unused host uid per sandbox;
* **unprivileged** (any user, given unprivileged user namespaces): bubblewrap runs as the calling user.

In both, ``RLIMIT_NPROC`` caps the processes of one sandbox: since Linux 5.14 the kernel counts
processes per (user namespace, uid), and each sandbox has its own user namespace, so a fork bomb stops
at ``max_processes`` in its sandbox and the caller's own processes and other sandboxes are untouched.

One long-lived bubblewrap process holds the namespaces; each ``exec`` enters them with ``nsenter``
(about 1.3 ms, versus ~6 ms for a fresh bubblewrap per command) and runs ``bash`` under hard rlimits
(address space, CPU seconds, processes, open files, file size) in its own process group, so a timeout
kills everything the command started in it. ``nsenter`` is pinned: the namespaces (and the root) are
opened once at start, checked not to be the caller's own, and entered through those descriptors
(``/proc/<caller>/fd/N``), never by a pid that could be reused. Set-uid and file-capability binaries
grant nothing: their owner (host root) has no mapping in the sandbox's user namespace, and
``no_new_privs`` is set (with seccomp on). ``close`` kills the namespace's init, which takes every process in the sandbox
with it and frees its file systems.

``reset`` claims a started sandbox of the same configuration from a small per-process pool
(``config.pool``, refilled by one long-lived background thread: bubblewrap's ``--die-with-parent`` is tied to
the thread that started it) and tears the old one down on another thread; ``close`` waits for that.
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import fcntl
import json
import os
import random
import select
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time

from claw_envs.core.errors import SandboxError
from claw_envs.sandbox._proc import capture, run_capped
from claw_envs.sandbox.base import ExecResult, SandboxConfig, parse_size

SANDBOX_UID = 1000
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ETC = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "ssl/certs",
        "ca-certificates", "ca-certificates.conf", "python3", "python3.11", "bash.bashrc", "inputrc", "mime.types", "gitconfig",
        "profile", "nsswitch.conf", "magic", "magic.mime", "debian_version", "os-release", "protocols",
        "services")
_PASSWD = (f"root:x:0:0:root:/root:/bin/bash\nagent:x:{SANDBOX_UID}:{SANDBOX_UID}:agent:/root:/bin/bash\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
_GROUP = f"root:x:0:\nagent:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"
_HOSTS = "127.0.0.1 localhost sandbox\n::1 localhost\n"
_uid_lock = threading.Lock()
_uids_in_use: set[int] = set()


_NAMESPACES = ("user", "mnt", "net", "pid", "ipc", "uts", "cgroup")
_NSENTER_OPT = {"user": "--user", "mnt": "--mount", "net": "--net", "pid": "--pid", "ipc": "--ipc",
                "uts": "--uts", "cgroup": "--cgroup"}
_NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
_probe_lock = threading.Lock()
_probe: list[str | None] = []


def local_sandbox_unavailable() -> str | None:
    """Why the local backend cannot run here, or None when it can.

    Beyond looking for the binaries, it starts one real sandbox (once per process, ~10 ms) with the
    seccomp filter, so "bubblewrap is installed but this user may not create namespaces" is detected
    here and not at the first ``reset``.
    """
    for tool in ("bwrap", "nsenter"):
        if shutil.which(tool) is None:
            pkg = "bubblewrap" if tool == "bwrap" else "util-linux"
            return f"`{tool}` not found: install it (apt-get install {pkg}) or use the docker backend"
    with _probe_lock:
        if not _probe:
            _probe.append(_probe_sandbox())
        return _probe[0]


def _probe_sandbox() -> str | None:
    from claw_envs.sandbox.seccomp import seccomp_unavailable

    why = seccomp_unavailable()
    if why:
        return why
    sb = LocalSandbox(SandboxConfig(writable={"/tmp": "1m"}, workdir="/tmp"))
    try:
        sb.start()
        r = sb.exec("echo ok", timeout=10)
        if r.stdout != "ok\n":
            return f"a probe sandbox started but could not run a command: {r.output.strip()[:300]}"
    except SandboxError as e:
        return f"cannot create a sandbox here as uid {os.getuid()}: {e}"
    finally:
        sb.close()
    return None


_etc_lock = threading.Lock()
_etc_dir: str | None = None


def _staged_etc() -> str:
    """A read-only /etc for sandboxes, staged once per process (removed at exit): a curated copy of the
    host's entries plus our own passwd/group/hosts. One bind mount instead of dozens keeps start-up fast."""
    global _etc_dir
    with _etc_lock:
        if _etc_dir is None or not os.path.isdir(_etc_dir):
            d = tempfile.mkdtemp(prefix="claw-etc-")
            for name in _ETC:
                src, dst = f"/etc/{name}", f"{d}/{name}"
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                try:
                    if os.path.isdir(src) and not os.path.islink(src):
                        shutil.copytree(src, dst, symlinks=True, ignore_dangling_symlinks=True)
                    elif os.path.lexists(src):
                        shutil.copy2(src, dst, follow_symlinks=False)
                except (shutil.Error, PermissionError):  # unreadable entries (not root) are left out
                    continue
            for name, text in (("passwd", _PASSWD), ("group", _GROUP), ("hosts", _HOSTS), ("hostname", "sandbox\n")):
                with open(f"{d}/{name}", "w") as f:
                    f.write(text)
            os.chmod(d, 0o755)
            atexit.register(shutil.rmtree, d, True)
            _etc_dir = d
        return _etc_dir


def _uid_has_processes(uid: int) -> bool:
    """Whether a live (non-zombie) process of host ``uid`` exists."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    with open(f"/proc/{entry.name}/stat") as f:
                        if f.read().rpartition(")")[2].split()[0] != "Z":
                            return True
            except OSError:
                continue
    return False


def _host_uid() -> int:
    """An unused host uid for one sandbox (so per-uid process limits are per sandbox)."""
    with _uid_lock:
        while True:
            uid = random.randrange(200_000, 2_000_000)
            if uid not in _uids_in_use:
                _uids_in_use.add(uid)
                return uid


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_RESOLVE_IN_ROOT, _RESOLVE_NO_MAGICLINKS = 0x10, 0x02
_libc = ctypes.CDLL(None, use_errno=True)


def _read_in_root(root_fd: int, path: str, limit: int = 1 << 30) -> bytes:
    """Read ``path`` as seen from the directory ``root_fd`` (``openat2`` ``RESOLVE_IN_ROOT``, no magic links);
    a regular file only. NotImplementedError where the kernel lacks ``openat2``."""
    how = _OpenHow(os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY, 0,
                   _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(ctypes.c_long(437), ctypes.c_int(root_fd), ctypes.c_char_p(path.lstrip("/").encode() or b"."),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        if err == errno.ENOSYS:
            raise NotImplementedError
        raise OSError(err, os.strerror(err))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = f.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, "too large")
    return data


_STATE = ("_proc", "_init_pid", "_ns_init", "_uid", "_ns_fds", "_nested", "userns_inode", "_filter")
_pool_lock = threading.Lock()
_pools: dict[tuple, list[LocalSandbox]] = {}
_pool_filling: set[tuple] = set()
POOLED_CONFIGS = 2  # configurations that keep a pool at once (the most recently claimed ones)


def _pool_claim(config: SandboxConfig) -> LocalSandbox | None:
    """A started sandbox of ``config`` from this process's pool (None if none waits); starts a refill."""
    key = (os.getpid(), json.dumps(config.__dict__, sort_keys=True, default=str))
    with _pool_lock:
        pool = _pools.setdefault(key, [])
        got = pool.pop(0) if pool else None
        refill = key not in _pool_filling
        if refill:
            _pool_filling.add(key)
        # only the POOLED_CONFIGS most recently claimed configurations keep a pool (processes are capped)
        _pools[key] = _pools.pop(key)
        evicted = [sb for k in list(_pools)[:-POOLED_CONFIGS] for sb in _pools.pop(k)]
    for sb in evicted:
        threading.Thread(target=sb.close, daemon=True, name="claw-sandbox-close").start()
    if refill:
        _pool_worker().put((key, config, int(config.pool)))
    return got


_worker: list = []


def _pool_worker():
    """The queue of one long-lived thread that starts pooled sandboxes: bubblewrap's --die-with-parent is
    tied to the thread that started it, so that thread must live as long as the process."""
    import queue

    with _pool_lock:
        if not _worker or _worker[0][1] != os.getpid():
            q: queue.Queue = queue.Queue()

            def run() -> None:
                while True:
                    _pool_fill(*q.get())

            threading.Thread(target=run, daemon=True, name="claw-sandbox-pool").start()
            _worker[:] = [(q, os.getpid())]
        return _worker[0][0]


def _pool_fill(key: tuple, config: SandboxConfig, size: int) -> None:
    try:
        while True:
            with _pool_lock:
                if len(_pools.get(key, ())) >= size:
                    return
            sb = LocalSandbox(config)
            try:
                sb.start()
            except SandboxError:
                return  # the synchronous path reports the error
            with _pool_lock:
                if key not in _pools:  # evicted meanwhile
                    break
                _pools[key].append(sb)
        sb.close()
    finally:
        with _pool_lock:
            _pool_filling.discard(key)


@atexit.register
def drain_pool() -> None:
    """Close every started sandbox waiting in this process's pools."""
    with _pool_lock:
        waiting = [sb for pool in _pools.values() for sb in pool]
        for pool in _pools.values():
            pool.clear()
    for sb in waiting:
        sb.close()


class LocalSandbox:
    """Bubblewrap sandbox. See the module docstring for what it isolates and how."""

    backend = "local"

    def __init__(self, config: SandboxConfig | None = None):
        self.config = config or SandboxConfig()
        self._proc: subprocess.Popen | None = None
        self._init_pid: int | None = None  # host pid of the sandbox's idle process
        self._ns_init: int | None = None  # host pid of the pid namespace's init (bubblewrap)
        self._uid: int | None = None  # the sandbox's own host uid (root mode), None when unprivileged
        self._ns_fds: dict[str, int] = {}  # namespaces and root of the sandbox, opened once (nsenter targets)
        self._nested = False
        self.userns_inode: int | None = None
        self._filter = None
        self._closing: list[threading.Thread] = []
        self._env = {"PATH": PATH, "HOME": "/root", "USER": "agent", "LOGNAME": "agent",
                     "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb", "SHELL": "/bin/bash",
                     **self.config.env}
        c = self.config
        self._limits = (f"ulimit -HSv {parse_size(c.memory) // 1024} -HSt {int(c.cpu_seconds)} "
                        f"-HSu {int(c.max_processes)} -HSn {int(c.max_open_files)} "
                        f"-HSf {parse_size(c.max_file_size) // 1024}")
        for path in self.config.writable:
            if not path.startswith("/") or path in ("/", "/usr", "/etc", "/proc", "/dev"):
                raise SandboxError(f"writable path {path!r} must be an absolute path outside /usr, /etc, "
                                   "/proc and /dev")

    # -- lifecycle ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.running:
            return
        for tool in ("bwrap", "nsenter"):
            if shutil.which(tool) is None:
                raise SandboxError(local_sandbox_unavailable() or f"`{tool}` not found")
        seccomp_fd = None
        if self.config.seccomp:
            from claw_envs.sandbox.seccomp import policy_bpf
            from claw_envs.sandbox.spawner import Spawner

            self._filter = Spawner.get("enter")
            seccomp_fd = os.memfd_create("claw-seccomp")
            os.write(seccomp_fd, policy_bpf("init"))
            os.lseek(seccomp_fd, 0, os.SEEK_SET)
        self._uid = _host_uid() if os.geteuid() == 0 else None
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", self.hostname,
                "--ro-bind", "/usr", "/usr", "--ro-bind", self._etc_dir(), "/etc", "--proc", "/proc", "--dev", "/dev"]
        if self.config.network:
            args.insert(args.index("--unshare-all") + 1, "--share-net")
        for top in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
            host = f"/{top}"
            if os.path.islink(host):
                args += ["--symlink", os.readlink(host), host]
            elif os.path.isdir(host):
                args += ["--ro-bind", host, host]
        for path, size in self.config.writable.items():
            args += ["--size", str(parse_size(size)), "--perms", "0755", "--tmpfs", path]
        args += ["--size", str(4 << 20), "--perms", "0700", "--tmpfs", "/run/claw"]
        args += self._extra_mounts()
        info_r, info_w = os.pipe()
        fds = (info_w,) if seccomp_fd is None else (info_w, seccomp_fd)
        if seccomp_fd is not None:
            args += ["--seccomp", str(seccomp_fd)]
        args += ["--remount-ro", "/", "--chdir", self.config.workdir if self.config.workdir in
                 self.config.writable else "/", "--info-fd", str(info_w), "--", "/usr/bin/sleep", "infinity"]
        as_uid = {} if self._uid is None else {"user": self._uid, "group": self._uid, "extra_groups": []}
        try:  # as root, bubblewrap runs as the sandbox's own unprivileged host uid; otherwise as the caller
            self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.PIPE, pass_fds=fds, start_new_session=True,
                                          env={"PATH": PATH}, **as_uid)
        except OSError as e:
            os.close(info_r)
            raise SandboxError(f"could not run bubblewrap: {e}") from e
        finally:
            os.close(info_w)
            if seccomp_fd is not None:
                os.close(seccomp_fd)
        try:
            info = self._read_info(info_r)
        finally:
            os.close(info_r)
        self._ns_init = int(info["child-pid"])
        try:
            self._init_pid = self._wait_ready(self._ns_init)
        except SandboxError as e:
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
            raise SandboxError(f"the sandbox did not start: {err or e}") from e
        try:
            self._pin_namespaces()
        except SandboxError:
            self.close()
            raise

    def _pin_namespaces(self) -> None:
        """Open the sandbox's namespaces and root once; refuse them if they are not the sandbox's own."""
        pid = self._init_pid
        try:
            for ns in _NAMESPACES:
                self._ns_fds[ns] = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
            # bubblewrap nests the sandbox's user namespace (uid 1000, --disable-userns) inside the one that
            # owns the other namespaces: enter the owner (where the caller holds the capabilities setns
            # needs), then the sandbox's own from inside, through its pid 1 (which no process can replace)
            owner = fcntl.ioctl(self._ns_fds["mnt"], _NS_GET_USERNS)
            if self._uid is not None or os.fstat(owner).st_ino == os.fstat(self._ns_fds["user"]).st_ino:
                os.close(owner)
                self._nested = False
            else:
                self._ns_fds["owner"] = owner
                self._nested = True
            self._ns_fds["root"] = os.open(f"/proc/{pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rpartition(")")[2].split()[1])
        except OSError as e:
            raise SandboxError(f"could not open the sandbox's namespaces: {e}") from e
        ino = os.fstat(self._ns_fds["user"]).st_ino
        if ppid != self._ns_init or not self.running or ino == os.stat("/proc/self/ns/user").st_ino:
            raise SandboxError("the sandbox's process changed before its namespaces were pinned; retry start()")
        self.userns_inode = ino

    # hooks for subclasses (e.g. the GUI desktop): the hostname, the /etc to bind, extra bubblewrap mounts
    hostname = "sandbox"

    def _etc_dir(self) -> str:
        return _staged_etc()

    def _extra_mounts(self) -> list[str]:
        return []

    def _wait_ready(self, ns_init: int) -> int:
        """Host pid of the sandbox's ``sleep``: it exists only once bubblewrap finished the set-up."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{ns_init}/task/{ns_init}/children") as f:
                    for pid in f.read().split():
                        with open(f"/proc/{pid}/comm") as c:
                            if c.read().strip() == "sleep":
                                return int(pid)
            except OSError:
                if self._proc is not None and self._proc.poll() is not None:
                    break
            time.sleep(0.0005)
        self._ns_init = ns_init
        self._kill()
        raise SandboxError("the sandbox did not become ready within 10 s; see `bwrap --version` (>= 0.8 needed)")

    def _read_info(self, fd: int) -> dict:
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    break
                data += chunk
                try:
                    return json.loads(data)
                except json.JSONDecodeError:
                    continue
            elif self._proc is not None and self._proc.poll() is not None:
                break
        err = ""
        if self._proc is not None:
            self._kill()
            err = self._proc.stderr.read().decode(errors="replace").strip() if self._proc.stderr else ""
        raise SandboxError(f"bubblewrap failed to start the sandbox: {err or 'no answer in 10 s'}. "
                           "Check that user namespaces are enabled (sysctl kernel.unprivileged_userns_clone=1) "
                           "or use the docker backend.")

    def _kill(self) -> None:
        """SIGKILL the namespace's init (the kernel then kills every process in the sandbox) and wait.

        The outer bubblewrap reaps its child and exits by itself; it is killed only if it lingers (killing
        it first would leave the init as a zombie for the host's init to reap).
        """
        for pid in (self._ns_init, self._init_pid):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self._proc is not None:
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self._uid is not None and _uid_has_processes(self._uid):
            time.sleep(0.002)
        for fd in self._ns_fds.values():
            os.close(fd)
        self._ns_fds = {}

    def close(self) -> None:
        for t in getattr(self, "_closing", ()):  # sandboxes replaced by reset(), still being torn down
            t.join()
        self._closing = []
        if self._proc is None:
            return
        self._kill()
        if self._proc.stderr:
            self._proc.stderr.close()
        with _uid_lock:
            _uids_in_use.discard(self._uid or -1)
        self._proc = self._init_pid = self._ns_init = self._uid = None
        self.userns_inode = None

    def reset(self) -> None:
        """A fresh sandbox. With ``config.pool`` > 0 (and for this class only: subclasses with state of their
        own reset synchronously) it is claimed from a pool of started sandboxes of the same configuration,
        refilled in the background, and the old one is torn down on a background thread (``close`` waits)."""
        if type(self) is not LocalSandbox or self.config.pool <= 0:
            self.close()
            self.start()
            return
        if self._proc is not None:
            old = object.__new__(LocalSandbox)
            old.__dict__.update(self.__dict__)
            old._closing = []
            t = threading.Thread(target=old.close, name="claw-sandbox-close", daemon=True)
            self._closing = [x for x in self._closing if x.is_alive()] + [t]
            t.start()
        self._proc = self._init_pid = self._ns_init = self._uid = None
        self._ns_fds, self.userns_inode = {}, None
        fresh = _pool_claim(self.config)
        if fresh is None:
            self.start()
        else:
            for k in _STATE:
                setattr(self, k, getattr(fresh, k))
            fresh._proc, fresh._ns_fds = None, {}

    def __enter__(self) -> LocalSandbox:
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
    def _nsenter(self, argv: list[str]) -> list[str]:
        """``nsenter`` into the pinned namespaces (no seccomp: start it with ``self._filter``, the spawner)."""
        if not self.running or not self._ns_fds:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        me, fds = os.getpid(), self._ns_fds
        nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
        as_agent = ["-S", str(SANDBOX_UID), "-G", str(SANDBOX_UID), "--"]
        ns_opts = [f"{_NSENTER_OPT[ns]}=/proc/{me}/fd/{fds[ns]}" for ns in _NAMESPACES if ns != "user"]
        root = f"/proc/{me}/fd/{fds['root']}"
        if not self._nested:  # root: straight into the sandbox's user namespace, then uid/gid 1000, no groups
            return [nsenter, f"--user=/proc/{me}/fd/{fds['user']}", *ns_opts, f"--root={root}", f"--wd={root}",
                    *as_agent, *argv]
        # unprivileged: the caller's uid is 0 in the owner namespace and 1000 in the sandbox's, so credentials
        # are kept as they are; exec drops the capabilities setns granted (uid 1000 is not root in there)
        keep = "--preserve-credentials"
        return [nsenter, f"--user=/proc/{me}/fd/{fds['owner']}", *ns_opts, f"--root={root}", f"--wd={root}", keep,
                "--", "/usr/bin/nsenter", "--user=/proc/1/ns/user", keep, "--", *argv]

    def _enter(self, argv: list[str]) -> list[str]:
        """A host command line that runs ``argv`` inside the sandbox, filter included, for any ``Popen``
        (long-running processes of subclasses). ``exec`` uses the faster ``_nsenter`` + spawner."""
        inner = self._nsenter(argv)
        if self._filter is None:
            return inner
        from claw_envs.sandbox.seccomp import launcher_argv

        return launcher_argv(inner)

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult:
        d = shlex.quote(cwd or self.config.workdir)
        prelude = f"{self._limits}\ncd -- {d} 2>/dev/null || {{ echo \"no such directory: \"{d} >&2; exit 1; }}\n"
        argv = self._nsenter(["/bin/bash", "-c", prelude + cmd])
        result = run_capped(argv, timeout=timeout or self.config.timeout, stdin=stdin, spawner=self._filter,
                            output_limit=self.config.output_limit, env={**self._env, **(env or {})})
        if not self.running:
            raise SandboxError("the sandbox died while running a command; call reset() to get a fresh one")
        return result

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        if isinstance(data, str):
            data = data.encode()
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1" && chmod "$2" "$1"'
        argv = self._nsenter(["/bin/sh", "-c", script, "sh", path, format(mode, "o")])
        r = run_capped(argv, timeout=60, stdin=data, output_limit=4096, env=self._env, spawner=self._filter)
        if not r.ok:
            raise SandboxError(f"could not write {path} in the sandbox: {r.output.strip() or r.exit_code} "
                               "(is it under a writable path?)")

    def read_file(self, path: str) -> bytes:
        """The file's bytes, read by this process through the sandbox's pinned root (``openat2`` with
        ``RESOLVE_IN_ROOT``: links resolve inside the sandbox), so no process in the sandbox holds the pipe it
        comes through. Kernels without ``openat2`` (< 5.6) read it with ``cat`` in the sandbox instead."""
        if not self.running or "root" not in self._ns_fds:
            raise SandboxError("the sandbox is not running: call start() (or reset()) first")
        try:
            return _read_in_root(self._ns_fds["root"], path)
        except NotImplementedError:
            pass
        except OSError as e:
            raise SandboxError(f"could not read {path} in the sandbox: {e.strerror or e}") from None
        argv = self._nsenter(["/bin/cat", "--", path])
        out, err, rc, timed_out, truncated, _ = capture(argv, timeout=60, output_limit=1 << 30, env=self._env,
                                                        spawner=self._filter)
        if rc != 0 or timed_out or truncated:
            why = err.decode(errors="replace").strip() or ("too large" if truncated else f"exit {rc}")
            raise SandboxError(f"could not read {path} in the sandbox: {why}")
        return out
