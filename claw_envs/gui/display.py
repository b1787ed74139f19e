"""An Xvfb display on the host: start/stop, fast screenshots and window facts.

Xvfb is the only desktop process outside the sandbox: it runs no model code and reads no files; clients
(apps in the sandbox) reach it through its Unix socket only (``-nolisten tcp``). It requires a per-display
secret, an MIT-MAGIC-COOKIE-1 (``-auth``): clients without the cookie are refused. Started by root, Xvfb
runs as ``nobody`` (uid 65534), never as root. The cookie is handed to this process's X clients through a
private Xauthority file (``$XAUTHORITY`` is pointed at it) and to the sandbox by the desktop
(``xauthority(cookie, "0", hostname)``). The display number is
chosen by Xvfb itself (``-displayfd``), so concurrent desktops never collide: Xvfb skips a number whose
abstract socket is taken, which is why the abstract ("local") listener must stay on.

Screenshots are grabbed with MIT-SHM through ``mss`` (~1 ms at 1280×720, cursor included) and encoded as
PNG at zlib level 1 (fast, lossless). Window facts (active window title, window list) come from the EWMH
properties the window manager publishes, read with python-xlib.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import stat
import struct
import subprocess
import threading
import time
import zlib
from dataclasses import dataclass

from claw_envs.core.errors import SandboxError

XSERVER_UID = 65534  # Xvfb's uid when started by root
_auth_lock = threading.Lock()
_auth_file: str | None = None


def xauthority(cookie: bytes, number: str, hostname: str | None = None) -> bytes:
    """Xauthority file content granting ``cookie`` for display ``number``: a FamilyWild entry (libX11) and a
    FamilyLocal entry for ``hostname`` (python-xlib looks only at those)."""
    import socket

    def field(b: bytes) -> bytes:
        return struct.pack(">H", len(b)) + b

    def entry(family: int, addr: bytes) -> bytes:
        return (struct.pack(">H", family) + field(addr) + field(number.encode()) + field(b"MIT-MAGIC-COOKIE-1")
                + field(cookie))

    return entry(0xFFFF, b"") + entry(256, (hostname or socket.gethostname()).encode())


def _add_client_auth(cookie: bytes, number: str) -> None:
    """Add the display's cookie to this process's private Xauthority file (created 0600 on first use)."""
    global _auth_file
    import atexit
    import shutil
    import tempfile
    with _auth_lock:
        if _auth_file is None:
            d = tempfile.mkdtemp(prefix="claw-xauth-")
            _auth_file = os.path.join(d, "Xauthority")
            atexit.register(shutil.rmtree, d, True)
        fd = os.open(_auth_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, xauthority(cookie, number))
        finally:
            os.close(fd)
        os.environ["XAUTHORITY"] = _auth_file


def display_unavailable() -> str | None:
    """Why a display cannot be started here, or None when it can."""
    import shutil
    if shutil.which("Xvfb") is None:
        return "`Xvfb` not found: install it (apt-get install xvfb)"
    for mod, pkg in (("mss", "mss"), ("Xlib", "python-xlib"), ("PIL", "pillow")):
        try:
            __import__(mod)
        except ImportError:
            return f"python package {pkg!r} is missing: pip install 'claw-gym[gui]'"
    return None


def _die_with_parent() -> None:
    """preexec: SIGKILL this child when the process that started it exits (Linux prctl)."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def encode_png(bgra: bytes, width: int, height: int, level: int = 1) -> bytes:
    """A valid PNG of a BGRA frame: RGB rows with filter 0, one zlib stream (faster than Pillow's encoder)."""
    import numpy as np
    px = np.frombuffer(bgra, np.uint8).reshape(height, width, 4)
    rows = np.empty((height, width * 3 + 1), np.uint8)
    rows[:, 0] = 0
    rows[:, 1:].reshape(height, width, 3)[:] = px[:, :, 2::-1]
    data = zlib.compress(rows.tobytes(), level)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


@dataclass(frozen=True)
class WindowInfo:
    """One top-level window the window manager manages."""

    id: int
    title: str
    wm_class: str
    x: int
    y: int
    width: int
    height: int


X11_SOCKET_DIR = "/tmp/.X11-unix"


def _ensure_socket_dir() -> None:
    """Make X's socket directory 1777 root-owned, whatever the umask (``makedirs(mode=...)`` is masked: 1755
    on a fresh machine, where Xvfb running as ``nobody`` then cannot create its socket). A directory that
    exists with another mode is repaired when root owns it, and refused with the fix otherwise."""
    try:
        os.mkdir(X11_SOCKET_DIR)
        os.chmod(X11_SOCKET_DIR, 0o1777)  # chmod is not masked
    except FileExistsError:
        pass
    st = os.lstat(X11_SOCKET_DIR)
    if stat.S_IMODE(st.st_mode) == 0o1777 and stat.S_ISDIR(st.st_mode):
        return
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
        raise SandboxError(f"{X11_SOCKET_DIR} is not a root-owned directory (uid {st.st_uid}, mode "
                           f"{oct(st.st_mode)}): remove it so the X server can create its socket there")
    os.chmod(X11_SOCKET_DIR, 0o1777)


class Display:
    """A private Xvfb display (``width``×``height``×24). ``start`` returns once it accepts clients."""

    def __init__(self, width: int = 1280, height: int = 720):
        self.width, self.height = width, height
        self.number: int | None = None
        self.cookie = os.urandom(16)
        self._auth_dir: str | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._grabber = None
        self._x = None

    @property
    def name(self) -> str:
        return f":{self.number}"

    @property
    def socket(self) -> str:
        return f"{X11_SOCKET_DIR}/X{self.number}"

    def start(self) -> None:
        reason = display_unavailable()
        if reason:
            raise SandboxError(reason)
        import tempfile
        self._auth_dir = tempfile.mkdtemp(prefix="claw-xserver-")
        auth = os.path.join(self._auth_dir, "auth")
        with open(auth, "wb") as f:
            f.write(xauthority(self.cookie, ""))
        user = {}
        if os.geteuid() == 0:  # the X server never runs as root
            _ensure_socket_dir()
            for path in (self._auth_dir, auth):
                os.chown(path, XSERVER_UID, XSERVER_UID)
            user = {"user": XSERVER_UID, "group": XSERVER_UID, "extra_groups": []}
        os.chmod(auth, 0o600)
        r, w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{self.width}x{self.height}x24", "-nolisten", "tcp",
                 "-noreset", "-dpi", "96", "+extension", "MIT-SHM", "-auth", auth],
                pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True, preexec_fn=_die_with_parent, **user)
        finally:
            os.close(w)
        data = b""
        deadline = time.monotonic() + 15
        try:
            while not data.endswith(b"\n") and time.monotonic() < deadline:
                ready, _, _ = select.select([r], [], [], 0.2)
                if ready:
                    chunk = os.read(r, 64)
                    if not chunk:
                        break
                    data += chunk
                elif self._proc.poll() is not None:
                    break
        finally:
            os.close(r)
        if not data.strip().isdigit():
            err = self._stop_proc()
            raise SandboxError(f"Xvfb did not start: {err or 'no display number within 15 s'}")
        self.number = int(data.strip())
        _add_client_auth(self.cookie, str(self.number))
        deadline = time.monotonic() + 5
        while not os.path.exists(self.socket) and time.monotonic() < deadline:
            time.sleep(0.005)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _stop_proc(self) -> str:
        if self._proc is None:
            return ""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        err = self._proc.stderr.read().decode(errors="replace")[-500:] if self._proc.stderr else ""
        if self._proc.stderr:
            self._proc.stderr.close()
        self._proc = None
        if self._auth_dir:
            import shutil
            shutil.rmtree(self._auth_dir, ignore_errors=True)
            self._auth_dir = None
        return err.strip()

    def close(self) -> None:
        with self._lock:
            if self._grabber is not None:
                try:
                    self._grabber.close()
                except Exception:  # noqa: BLE001 - the display may already be gone
                    pass
                self._grabber = None
            if self._x is not None:
                try:
                    self._x.close()
                except Exception:  # noqa: BLE001
                    pass
                self._x = None
        self._stop_proc()

    # -- pixels ------------------------------------------------------------------------------------
    def grab(self) -> tuple[int, int, bytes]:
        """``(width, height, BGRA bytes)`` of the whole screen, cursor drawn in."""
        import mss
        with self._lock:
            if self._grabber is None:
                self._grabber = mss.MSS(display=self.name, with_cursor=True)
            g = self._grabber.grab(self._grabber.monitors[1])
            return g.width, g.height, bytes(g.bgra)

    def screenshot_png(self, compress_level: int = 1) -> bytes:
        """The screen as PNG bytes (8-bit RGB, no filter, zlib ``compress_level``)."""
        w, h, bgra = self.grab()
        return encode_png(bgra, w, h, compress_level)

    # -- windows -----------------------------------------------------------------------------------
    def _xdisplay(self):
        from Xlib import display as xdisplay
        if self._x is None:
            self._x = xdisplay.Display(self.name)
        return self._x

    def windows(self) -> list[WindowInfo]:
        """Managed top-level windows (``_NET_CLIENT_LIST``), bottom to top."""
        with self._lock:
            try:
                d = self._xdisplay()
                root = d.screen().root
                prop = root.get_full_property(d.intern_atom("_NET_CLIENT_LIST"), 0)
                ids = list(prop.value) if prop is not None else []
                return [w for w in (self._window(d, i) for i in ids) if w is not None]
            except Exception:  # noqa: BLE001 - X errors (window vanished) give an empty answer
                self._x = None
                return []

    def active_window(self) -> WindowInfo | None:
        """The focused window (``_NET_ACTIVE_WINDOW``), or None."""
        with self._lock:
            try:
                d = self._xdisplay()
                prop = d.screen().root.get_full_property(d.intern_atom("_NET_ACTIVE_WINDOW"), 0)
                if prop is None or not len(prop.value) or not prop.value[0]:
                    return None
                return self._window(d, int(prop.value[0]))
            except Exception:  # noqa: BLE001
                self._x = None
                return None

    @staticmethod
    def _window(d, wid: int) -> WindowInfo | None:
        try:
            w = d.create_resource_object("window", wid)
            name = w.get_full_property(d.intern_atom("_NET_WM_NAME"), d.intern_atom("UTF8_STRING"))
            title = name.value.decode("utf-8", "replace") if name is not None else (w.get_wm_name() or "")
            if isinstance(title, bytes):
                title = title.decode("latin-1")
            cls = w.get_wm_class() or ("", "")
            geo = w.get_geometry()
            pos = w.translate_coords(d.screen().root, 0, 0)
            return WindowInfo(wid, str(title), str(cls[-1]), -pos.x, -pos.y, geo.width, geo.height)
        except Exception:  # noqa: BLE001 - the window went away
            return None

    def cursor(self) -> tuple[int, int]:
        with self._lock:
            p = self._xdisplay().screen().root.query_pointer()
            return int(p.root_x), int(p.root_y)
