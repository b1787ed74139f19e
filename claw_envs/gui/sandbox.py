"""The desktop's sandbox: the project's bubblewrap sandbox plus the binds a desktop session needs.

Everything a model can reach runs in here — the window manager, the apps (Chromium, xterm, the editor),
the bundled web site and every piece of model-supplied pyautogui code. The sandbox sees:

* the host's ``/usr`` read-only and a curated read-only ``/etc`` (the base sandbox's, plus fonts and the
  window manager's defaults), with a user ``user`` (uid 1000, home ``/home/user``);
* one X socket: the desktop's Xvfb socket, bound as ``/tmp/.X11-unix/X0`` (so ``DISPLAY=:0`` inside);
* read-only copies of exactly the Python packages pyautogui needs (at ``/opt/claw/python``) and the bundled
  web site (at ``/opt/claw/site``);
* private, size-capped tmpfs folders: ``/home`` (with ``/home/user``, the working folder, as on OSWorld's VM),
  ``/tmp`` and ``/run/user/1000`` (``XDG_RUNTIME_DIR``, where the session bus listens);
* ``/opt/claw/bin`` first on ``PATH``: OSWorld's ``sudo`` and ``google-chrome`` (``session_bin``);
* ``/run/claw-host``: a private host folder (writable) where the desktop puts the Unix socket that forwards
  to the sandbox's 127.0.0.1:9222 (Chrome's debugging port, as OSWorld's configs forward it), so the
  controller can reach it although the sandbox has no network;

Nothing else of the host: no repository, no host home, no network besides its own loopback (Chromium and the
bundled site talk over the sandbox's 127.0.0.1). Long-running apps are started with ``spawn`` (a background
process entered into the sandbox's namespaces, under the app limits); one-shot commands use ``exec``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from claw_envs.gui.session_bin import BIN_DIR, staged_bin
from claw_envs.sandbox.base import SandboxConfig, parse_size
from claw_envs.sandbox.local import PATH, SANDBOX_UID, LocalSandbox, _staged_etc

HOME = "/home/user"
RUNTIME_DIR = f"/run/user/{SANDBOX_UID}"
BUS = f"unix:path={RUNTIME_DIR}/bus"
PY_DIR = "/opt/claw/python"
SITE_DIR = "/opt/claw/site"
X_SOCKET = "/tmp/.X11-unix/X0"
HOST_DIR = "/run/claw-host"
CDP_PORT = 9222  # where OSWorld's getters expect Chrome's DevTools (its configs forward it with socat)
TERMINAL_LOG = "/tmp/.claw-terminal.log"
# Import names pyautogui (and our sandbox-side helpers) need; each is bound read-only, nothing else.
PY_PACKAGES = ("pyautogui", "pymsgbox", "pytweening", "pyscreeze", "pygetwindow", "mouseinfo", "pyrect",
               "pyperclip", "Xlib", "PIL", "pillow.libs", "six", "openpyxl", "et_xmlfile")
_EXTRA_ETC = ("fonts", "xdg", "chromium.d", "chromium", "X11", "gtk-3.0", "dconf", "libreoffice", "gimp", "thunderbird")
_etc_lock = threading.Lock()
_etc_dir: str | None = None


def desktop_config(**overrides) -> SandboxConfig:
    """The default sandbox config of a desktop: the working folder ``/home/user`` and ``/tmp`` are writable.

    The per-command limits apply to model code and setup commands; apps get ``AppLimits``.
    """
    base = dict(workdir=HOME, writable={"/home": "768m", "/tmp": "512m", RUNTIME_DIR: "16m"}, timeout=60.0,
                memory="4g", cpu_seconds=120, max_processes=512, max_open_files=4096,
                env={"DISPLAY": ":0", "XDG_SESSION_TYPE": "x11", "HOME": HOME, "USER": "user",
                     "LOGNAME": "user", "PYTHONPATH": PY_DIR, "TERM": "xterm-256color",
                     "NO_AT_BRIDGE": "1", "PATH": f"{BIN_DIR}:{PATH}", "XDG_RUNTIME_DIR": RUNTIME_DIR,
                     "DBUS_SESSION_BUS_ADDRESS": BUS, "XAUTHORITY": f"{RUNTIME_DIR}/Xauthority"})
    base.update(overrides)
    return SandboxConfig(**base)


@dataclass(frozen=True)
class AppLimits:
    """Limits of long-running desktop apps (browsers reserve huge address space and use many threads)."""

    memory: str = "256g"
    cpu_seconds: int = 7200
    max_processes: int = 2048
    max_open_files: int = 8192

    def ulimit(self) -> str:
        return (f"ulimit -HSv {parse_size(self.memory) // 1024} -HSt {self.cpu_seconds} "
                f"-HSu {self.max_processes} -HSn {self.max_open_files}")


def python_package_dirs() -> dict[str, str]:
    """Host folders of the packages in ``PY_PACKAGES`` that are installed (name -> folder)."""
    out = {}
    for name in PY_PACKAGES:
        if name.endswith(".libs"):
            pil = importlib.util.find_spec("PIL")
            if pil and pil.origin:
                d = Path(pil.origin).parents[1] / name
                if d.is_dir():
                    out[name] = str(d)
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin)
        out[name] = str(origin.parent if origin.name == "__init__.py" else origin)
    return out


def _desktop_etc() -> str:
    """The base sandbox's staged /etc plus fonts and xdg defaults and a ``user`` account (staged once)."""
    global _etc_dir
    with _etc_lock:
        if _etc_dir is None or not os.path.isdir(_etc_dir):
            d = tempfile.mkdtemp(prefix="claw-gui-etc-")
            shutil.copytree(_staged_etc(), d, symlinks=True, dirs_exist_ok=True)
            for name in _EXTRA_ETC:
                if os.path.isdir(f"/etc/{name}"):
                    shutil.copytree(f"/etc/{name}", f"{d}/{name}", symlinks=True, ignore_dangling_symlinks=True,
                                    dirs_exist_ok=True)
            _openbox_rc(d)
            with open(f"{d}/passwd", "w") as f:
                f.write(f"root:x:0:0:root:/root:/bin/bash\nuser:x:{SANDBOX_UID}:{SANDBOX_UID}:user:{HOME}:/bin/bash\n"
                        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
            with open(f"{d}/hosts", "w") as f:  # the hostname must resolve locally (X clients look it up)
                f.write("127.0.0.1 localhost desktop\n::1 localhost\n")
            with open(f"{d}/hostname", "w") as f:
                f.write("desktop\n")
            with open(f"{d}/machine-id", "w") as f:
                f.write(uuid.uuid4().hex + "\n")
            with open(f"{d}/group", "w") as f:
                f.write(f"root:x:0:\nuser:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
            os.chmod(d, 0o755)
            import atexit
            atexit.register(shutil.rmtree, d, True)
            _etc_dir = d
        return _etc_dir


def _openbox_rc(etc: str) -> None:
    """Openbox defaults for the desktop: one workspace, normal windows maximized and focused on map."""
    rc = f"{etc}/xdg/openbox/rc.xml"
    if not os.path.isfile(rc):
        return
    text = open(rc).read().replace("<number>4</number>", "<number>1</number>")
    start, end = text.find("<applications>"), text.find("</applications>")
    if start >= 0 and end > start:
        rules = ('<applications>\n  <application class="*" type="normal">\n    <maximized>yes</maximized>\n'
                 '    <focus>yes</focus>\n  </application>\n')
        text = text[:start] + rules + text[end:]
    key = text.find("<keyboard>")
    if key >= 0:  # Ctrl+Alt+T opens a terminal (titled "Terminal", its text logged for /terminal), as on Ubuntu
        bind = ('<keyboard>\n  <keybind key="C-A-t"><action name="Execute"><command>xterm -T Terminal -l -lf '
                f'{TERMINAL_LOG}</command></action></keybind>\n')
        text = text[:key] + bind + text[key + len("<keyboard>"):]
    with open(rc, "w") as f:
        f.write(text)


@dataclass
class Binds:
    """Host paths bound into the sandbox: ``ro`` read-only, ``rw`` writable (host path -> sandbox path)."""

    ro: dict[str, str] = field(default_factory=dict)
    rw: dict[str, str] = field(default_factory=dict)


class DesktopSandbox(LocalSandbox):
    """A ``LocalSandbox`` with the desktop's binds (see the module docstring) and background processes.

    Args:
        x_socket: the host path of the display's X socket (bound as ``/tmp/.X11-unix/X0``).
        site_dir: host folder of the bundled web site (bound read-only at ``/opt/claw/site``), or None.
        config: sandbox config (default ``desktop_config()``).
        app_limits: limits of processes started with ``spawn``.
    """

    def __init__(self, x_socket: str, site_dir: str | None = None, config: SandboxConfig | None = None,
                 app_limits: AppLimits | None = None, client_password: str = "password"):
        super().__init__(config or desktop_config())
        self.binds = Binds(rw={x_socket: X_SOCKET}, ro={staged_bin(client_password): BIN_DIR})
        self._host_parent = tempfile.mkdtemp(prefix="claw-gui-host-")  # 0700 by default; traversable below
        os.chmod(self._host_parent, 0o711)
        self.host_dir = os.path.join(self._host_parent, uuid.uuid4().hex)
        os.mkdir(self.host_dir)
        os.chmod(self.host_dir, 0o777)  # the sandbox's (unknown, per-start) host uid creates its socket here
        self.binds.rw[self.host_dir] = HOST_DIR
        for path in python_package_dirs().values():
            self.binds.ro[path] = f"{PY_DIR}/{os.path.basename(path)}"
        if site_dir:
            self.binds.ro[site_dir] = SITE_DIR
        if os.path.isdir("/var/cache/fontconfig"):  # without the font cache every app rescans fonts (seconds)
            self.binds.ro["/var/cache/fontconfig"] = "/var/cache/fontconfig"
        self.app_limits = app_limits or AppLimits()
        self._spawned: list[subprocess.Popen] = []

    hostname = "desktop"

    def _etc_dir(self) -> str:
        return _desktop_etc()

    def _extra_mounts(self) -> list[str]:
        """The desktop's additions to ``LocalSandbox``'s layout: shared memory, the X socket, the binds."""
        args = ["--size", str(256 << 20), "--perms", "1777", "--tmpfs", "/dev/shm", "--dir", "/tmp/.X11-unix"]
        for host, inside in self.binds.rw.items():
            args += ["--bind", host, inside]
        for host, inside in self.binds.ro.items():
            args += ["--ro-bind", host, inside]
        return args

    def spawn(self, argv: list[str] | str, *, env: dict[str, str] | None = None, log: str | None = None,
              pass_fds: tuple[int, ...] = (), fd_map: dict[int, int] | None = None) -> subprocess.Popen:
        """Start a long-running process in the sandbox (under ``app_limits``) and return its host handle.

        ``argv`` is a list or a bash command line; ``fd_map`` maps child fd numbers to host fds to pass
        (e.g. ``{3: r, 4: w}`` for Chromium's ``--remote-debugging-pipe``). The process dies with the sandbox.
        """
        cmd = argv if isinstance(argv, str) else " ".join(_q(a) for a in argv)
        redirs = "".join(f" {child}<&{host}" if child == 3 else f" {child}>&{host}"
                         for child, host in (fd_map or {}).items())
        script = f"{self.app_limits.ulimit()}\ncd {HOME} 2>/dev/null; exec {cmd}{redirs}"
        fds = tuple(pass_fds) + tuple((fd_map or {}).values())
        out = open(log, "ab") if log else subprocess.DEVNULL
        try:
            p = subprocess.Popen(self._enter(["/bin/bash", "-c", script]), stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, pass_fds=fds, start_new_session=True,
                                 env={**self._env, **(env or {})})
        finally:
            if log:
                out.close()  # type: ignore[union-attr]
        self._spawned = [q for q in self._spawned if q.poll() is None] + [p]
        return p

    @property
    def cdp_socket(self) -> str:
        """Host path of the Unix socket forwarding to the sandbox's 127.0.0.1:9222."""
        return os.path.join(self.host_dir, "cdp.sock")

    def __del__(self) -> None:
        super().__del__()
        shutil.rmtree(getattr(self, "_host_parent", ""), ignore_errors=True)

    def close(self) -> None:
        super().close()
        for p in self._spawned:
            try:
                p.wait(timeout=2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        self._spawned = []


def _q(s: str) -> str:
    import shlex
    return shlex.quote(s)
