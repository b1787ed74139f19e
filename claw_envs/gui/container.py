"""The desktop session inside a container (the ``docker`` provider): the container is the sandbox.

Container engines usually forbid the user namespaces bubblewrap needs, and the container already isolates
the desktop from the host, so ``python -m claw_envs.gui.server --isolation container`` runs the session's
processes directly, as the container's unprivileged user. ``ContainerSession`` offers the subset of the
``DesktopSandbox`` interface ``Desktop`` uses (``start``, ``exec``, ``spawn``, ``read_file``, ``write_file``,
``close``, ``running``); ``close`` kills every process it started and empties the home folder, so a reset
gives a fresh session as with the sandbox.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess

from claw_envs.core.errors import SandboxError
from claw_envs.gui.sandbox import HOME, AppLimits
from claw_envs.sandbox._proc import run_capped
from claw_envs.sandbox.base import ExecResult


class ContainerSession:
    def __init__(self, display: str, site_dir: str | None = None, home: str = HOME):
        self.home = home
        self.site_dir = site_dir
        self.app_limits = AppLimits()
        self._env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": "user", "LANG": "C.UTF-8",
                     "DISPLAY": display, "XDG_SESSION_TYPE": "x11", "TERM": "xterm-256color", "NO_AT_BRIDGE": "1",
                     **({"XAUTHORITY": os.environ["XAUTHORITY"]} if "XAUTHORITY" in os.environ else {})}
        self._procs: list[subprocess.Popen] = []
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        os.makedirs(self.home, exist_ok=True)
        self._running = True

    def exec(self, cmd: str, timeout: float | None = None, *, cwd: str | None = None,
             env: dict[str, str] | None = None, stdin: bytes | None = None) -> ExecResult:
        if not self._running:
            raise SandboxError("the desktop session is not running: reset it")
        return run_capped(["/bin/bash", "-c", cmd if cwd is None else f"cd {cwd!r} && {cmd}"], timeout=timeout or 60,
                          output_limit=64 * 1024, stdin=stdin, env={**self._env, **(env or {})})

    def spawn(self, argv: list[str] | str, *, env: dict[str, str] | None = None, log: str | None = None,
              pass_fds: tuple[int, ...] = (), fd_map: dict[int, int] | None = None) -> subprocess.Popen:
        import shlex
        cmd = argv if isinstance(argv, str) else " ".join(shlex.quote(a) for a in argv)
        redirs = "".join(f" {c}<&{h}" if c == 3 else f" {c}>&{h}" for c, h in (fd_map or {}).items())
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(["/bin/bash", "-c", f"cd {self.home}; exec {cmd}{redirs}"], stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                 pass_fds=tuple(pass_fds) + tuple((fd_map or {}).values()), env={**self._env, **(env or {})})
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self._procs.append(p)
        return p

    def read_file(self, path: str) -> bytes:
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise SandboxError(f"could not read {path}: {e.strerror}") from e

    def write_file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        try:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
            os.chmod(path, mode)
        except OSError as e:
            raise SandboxError(f"could not write {path}: {e.strerror}") from e

    def close(self) -> None:
        for p in self._procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        self._procs = []
        for entry in os.scandir(self.home) if os.path.isdir(self.home) else ():
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
        self._running = False
