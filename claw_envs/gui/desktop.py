"""A desktop session: Xvfb on the host, everything else in a ``DesktopSandbox``.

``Desktop`` is what the controller server drives. ``start`` brings up the display, the sandbox, the window
manager (openbox) and the bundled web site (``python3 -m http.server`` on the sandbox's 127.0.0.1:8000);
``reset`` replaces the sandbox (every app and file the last episode made is gone) but keeps the display.
Apps are launched inside the sandbox; Chromium is launched with a CDP pipe (``Browser``) so the browser
getters work. Model-supplied Python runs as ``python3 -c`` in the sandbox with ``DISPLAY=:0``.

Results of commands follow OSWorld's VM server: ``{"status": "success"|"error", "output", "error",
"returncode"}``.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from claw_envs.core.errors import SandboxError
from claw_envs.gui.apps import APP_WINDOWS, opener, profile_files
from claw_envs.gui.browser import Browser, BrowserError
from claw_envs.gui.display import Display, xauthority
from claw_envs.gui.sandbox import (
    BUS,
    CDP_PORT,
    HOME,
    HOST_DIR,
    RUNTIME_DIR,
    SITE_DIR,
    TERMINAL_LOG,
    DesktopSandbox,
)
from claw_envs.gui.session_bin import BIN_DIR

log = logging.getLogger(__name__)
SITE_PORT = 8000
SITE_URL = f"http://127.0.0.1:{SITE_PORT}"
BROWSER_NAMES = {"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"}
BLANK_PAGES = {"about:blank", "chrome://newtab/", "chrome://new-tab-page/"}
# Commands OSWorld's configs ``launch`` that open no window: helpers run in the background, the rest to completion.
BACKGROUND = {"socat", "nohup", "sleep", "dbus-daemon", "pulseaudio"}
FOREGROUND = {"pkill", "killall", "kill", "xdotool", "wmctrl", "gsettings", "dconf", "mkdir", "rm", "cp", "mv", "touch"}
PYAUTOGUI_PRELUDE = "import pyautogui, time\npyautogui.FAILSAFE = False\n"
# File types ``open_file`` shows in the browser; other files open in their app (``apps.opener``).
_OPENERS = {".html": "browser", ".htm": "browser", ".pdf": "browser", ".svg": "browser", ".png": "browser",
            ".jpg": "browser"}


def site_dir() -> str:
    return str(Path(__file__).resolve().parent / "site")


class Desktop:
    """One desktop. All methods are called from one thread (the controller serves requests serially)."""

    def __init__(self, width: int = 1280, height: int = 720, log_dir: str | None = None, isolation: str = "sandbox",
                 client_password: str = "password"):
        if isolation not in ("sandbox", "container"):
            raise ValueError(f"isolation must be 'sandbox' or 'container', got {isolation!r}")
        self.display = Display(width, height)
        self.isolation = isolation
        self.sandbox: DesktopSandbox | None = None
        self.browser: Browser | None = None
        self.log_dir = log_dir
        self.last_exit: int | None = None
        self.client_password = client_password

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        self.display.start()
        if self.isolation == "container":
            from claw_envs.gui.container import ContainerSession
            self.sandbox = ContainerSession(self.display.name, site_dir())  # type: ignore[assignment]
            self._site = site_dir()
        else:
            self.sandbox = DesktopSandbox(self.display.socket, site_dir=site_dir(), client_password=self.client_password)
            self._site = SITE_DIR
        self._start_session()

    def _log(self, name: str) -> str | None:
        return os.path.join(self.log_dir, f"{name}.log") if self.log_dir else None

    def _start_session(self) -> None:
        sb = self.sandbox
        assert sb is not None
        sb.start()
        if self.isolation == "sandbox":  # the X server's cookie, for the sandbox's display :0
            sb.write_file(f"{RUNTIME_DIR}/Xauthority", xauthority(self.display.cookie, "0", sb.hostname), mode=0o600)
        # OSWorld's VM user has used Chrome and VS Code: their profile folders exist (set-up commands edit files there)
        sb.exec(f"mkdir -p {HOME}/Desktop {HOME}/Documents {HOME}/Downloads {HOME}/.config/google-chrome/Default "
                f"{HOME}/.config/Code/User && "
                f"echo '{{}}' > {HOME}/.config/google-chrome/Default/Preferences && touch {TERMINAL_LOG}",
                timeout=10, cwd="/")
        for path, text in profile_files().items():  # the apps' profiles as on OSWorld's VM (apps.py)
            sb.write_file(path, text)
        if self.isolation == "sandbox" and shutil.which("socat"):  # the controller's way to Chrome's debugging port
            sb.exec(f"rm -f {HOST_DIR}/cdp.sock", timeout=10, cwd="/")
            sb.spawn(["socat", f"UNIX-LISTEN:{HOST_DIR}/cdp.sock,fork,mode=600", f"TCP:127.0.0.1:{CDP_PORT}"],
                     log=self._log("cdp"))
        if self.isolation == "sandbox":
            sb.spawn(["dbus-daemon", "--session", f"--address={BUS}", "--nofork", "--nopidfile", "--syslog-only"],
                     log=self._log("dbus"))
        sb.spawn(["openbox", "--sm-disable"], log=self._log("openbox"))
        sb.spawn(["python3", "-m", "http.server", str(SITE_PORT), "--bind", "127.0.0.1", "--directory", self._site],
                 log=self._log("site"))
        self._wait(lambda: self._wm_ready(), 10, "the window manager did not start")
        self._wait(lambda: sb.exec(f"exec 3<>/dev/tcp/127.0.0.1/{SITE_PORT}", timeout=5).ok, 10,
                   "the bundled web site did not start")
        if self.isolation == "sandbox":
            self._wait(lambda: sb.exec(f"test -S {RUNTIME_DIR}/bus", timeout=5).ok, 10, "the session bus did not start")

    def _wm_ready(self) -> bool:
        try:
            from Xlib import display as xdisplay
            d = xdisplay.Display(self.display.name)
            try:
                return d.screen().root.get_full_property(d.intern_atom("_NET_SUPPORTING_WM_CHECK"), 0) is not None
            finally:
                d.close()
        except Exception:  # noqa: BLE001 - not up yet
            return False

    @staticmethod
    def _wait(cond, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if cond():
                return
            time.sleep(0.02)
        raise SandboxError(f"{what} within {timeout} s")

    def reset(self) -> None:
        """A fresh sandbox (no apps, empty home) on the same display."""
        self._close_browser()
        if self.sandbox is not None:
            self.sandbox.close()
        self.last_exit = None
        self._start_session()

    def close(self) -> None:
        self._close_browser()
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None
        self.display.close()

    def _close_browser(self) -> None:
        if self.browser is not None:
            self.browser.close()
            self.browser = None

    @property
    def sb(self) -> DesktopSandbox:
        if self.sandbox is None or not self.sandbox.running:
            raise SandboxError("the desktop is not running: reset it")
        return self.sandbox

    # -- commands ----------------------------------------------------------------------------------
    def execute(self, command: list[str] | str, shell: bool = False, timeout: float = 60.0,
                cwd: str | None = None) -> dict[str, Any]:
        """Run a command to completion in the sandbox (OSWorld's ``/execute``)."""
        if isinstance(command, list):
            if command and command[0] in ("python", "python3") and len(command) >= 3 and command[1] == "-c":
                command = ["python3", *command[1:]]
            line = " ".join(shlex.quote(c) for c in command)
        else:
            line = command if shell else command
        r = self.sb.exec(line, timeout=timeout, cwd=cwd or HOME)
        self.last_exit = r.exit_code
        return {"status": "success" if r.ok else "error", "output": r.stdout, "error": r.stderr,
                "returncode": r.exit_code, "timed_out": r.timed_out}

    def run_python(self, code: str, timeout: float = 60.0) -> dict[str, Any]:
        """Run Python code (e.g. pyautogui calls) in the sandbox with pyautogui imported."""
        r = self.sb.exec("exec python3 -c \"$CLAW_CODE\"", timeout=timeout,
                         env={"CLAW_CODE": PYAUTOGUI_PRELUDE + code})
        self.last_exit = r.exit_code
        return {"status": "success" if r.ok else "error", "output": r.stdout, "error": r.stderr,
                "returncode": r.exit_code, "timed_out": r.timed_out}

    def launch(self, command: list[str] | str, shell: bool = False) -> dict[str, Any]:
        """Start an app (OSWorld's ``/setup/launch``); ``window`` in the answer says whether it opens one.

        ``google-chrome``/``chrome`` start the desktop's Chromium with OSWorld's profile folder, the CDP pipe
        (claw's browser getters) and the task's ``--remote-debugging-port``; helpers (``socat``...) run in the
        background; ``pkill``-like commands run to completion (so a following launch sees their effect).
        """
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not argv:
            return {"status": "error", "message": "empty command"}
        name = os.path.basename(argv[0])
        if name in BROWSER_NAMES:
            args = [a for a in argv[1:] if a.startswith("-") and not a.startswith(("--user-data-dir", "--remote-debugging-pipe"))]
            urls = [a for a in argv[1:] if not a.startswith("-")]
            self.open_browser(urls, args)
            return {"status": "success", "message": "browser launched", "window": False}
        if name in FOREGROUND:
            r = self.execute(command if shell else argv, shell=shell, timeout=30)
            if self.browser is not None and not self.browser.alive:
                self._close_browser()
            elif self.browser is not None and name in ("pkill", "killall", "kill"):
                deadline = time.monotonic() + 5
                while self.browser.alive and time.monotonic() < deadline and r["returncode"] == 0:
                    time.sleep(0.05)
                if not self.browser.alive:
                    self._close_browser()
            if name in ("pkill", "killall") and r["returncode"] == 0:
                self._wait_gone(argv)
            return {"status": "success", "message": f"ran {name} (exit {r['returncode']})", "window": False}
        # a shell line runs in bash (it may start with VAR=value assignments, pipes...), a list as argv
        self.sb.spawn(["/bin/bash", "-c", command] if (shell and isinstance(command, str)) else argv,
                      log=self._log("apps"))
        app = next((w for w in argv if "=" not in w), name)  # a shell line may start with VAR=value
        self._wait_app_window(os.path.basename(app))
        return {"status": "success", "message": f"launched {name}", "window": name not in BACKGROUND}

    def _wait_app_window(self, app: str, timeout: float = 60.0) -> None:
        """For the desktop apps of ``apps.APP_WINDOWS``: wait until one of that app's main windows shows
        (LibreOffice and GIMP show a splash first); gives up quietly after ``timeout`` (the set-up step then
        reports a missing window)."""
        if app not in APP_WINDOWS:
            return
        cls, title = APP_WINDOWS[app]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(w.wm_class.lower().startswith(cls) and title in w.title for w in self.display.windows()):
                return
            time.sleep(0.05)

    def _wait_gone(self, argv: list[str], timeout: float = 5.0) -> None:
        """After ``pkill``/``killall NAME``: wait (up to ``timeout``) until no process matches and its windows
        are gone, so a launch that follows sees the app's new window rather than the dying one's."""
        names = [a for a in argv[1:] if not a.startswith("-")]
        if not names:
            return
        flag = ["-f"] if "-f" in argv else []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.execute(["pgrep", *flag, names[-1]], timeout=5)["returncode"] != 0:
                time.sleep(0.2)  # the X server drops the windows when the client's connection closes
                return
            time.sleep(0.1)

    def open_browser(self, urls: list[str], args: list[str] | None = None) -> None:
        if self.browser is not None and self.browser.alive:
            tabs = self.browser.tabs()
            if urls and len(tabs) == 1 and tabs[0].url in BLANK_PAGES:  # a fresh window's blank tab takes the first URL
                b = self.browser
                b.call("Page.navigate", {"url": urls[0]}, session=b._session(tabs[0].id))
                urls = urls[1:]
            for u in urls:
                self.browser.open_tab(u)
            return
        exe = f"{BIN_DIR}/chrome" if self.isolation == "sandbox" else "/usr/bin/chromium"
        self.browser = Browser.launch(self.sb, urls or ["about:blank"], args, log=self._log("chromium"), executable=exe)

    def close_tabs(self, prefix: str) -> int:
        """Close the browser's tabs whose URL starts with ``prefix``; how many were closed."""
        if self.browser is None or not self.browser.alive:
            return 0
        n = 0
        for t in self.browser.tabs():
            if t.url.startswith(prefix) or t.url.rstrip("/") == prefix.rstrip("/"):
                self.browser.close_tab(t.id)
                n += 1
        return n

    def terminal_output(self) -> str:
        """Text the Ctrl+Alt+T terminals showed (their log, control sequences removed)."""
        import re
        try:
            raw = self.sb.read_file(TERMINAL_LOG).decode("utf-8", "replace")
        except SandboxError:
            return ""
        raw = re.sub(r"\x1b\][^\x07\x1b]*(\x07|\x1b\\)", "", raw)
        raw = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][A-Za-z0-9]|\x1b[=>]", "", raw)
        return raw.replace("\r\n", "\n").replace("\r", "")

    def open_file(self, path: str) -> dict[str, Any]:
        """Open a file or URL with its app (OSWorld's ``/setup/open_file``)."""
        if "://" in path:
            self.open_browser([path])
            return {"status": "success"}
        p = path if path.startswith("/") else f"{HOME}/{path}"
        if not self.execute(["test", "-e", p])["returncode"] == 0:
            return {"status": "error", "message": f"no such file: {p}"}
        if _OPENERS.get(os.path.splitext(p)[1].lower()) == "browser":
            self.open_browser([f"file://{p}"])
        elif self.execute(["test", "-d", p])["returncode"] == 0:
            self.sb.spawn(["xterm", "-e", f"cd {shlex.quote(p)} && exec bash"], log=self._log("apps"))
        else:
            argv, name = opener(p)
            self.sb.spawn(argv, log=self._log("apps"))
            self._wait(lambda: any(name in w.title for w in self.display.windows()), 60,
                       f"no window showed {name} after opening {p} with {argv[0]}")
            return {"status": "success"}
        name = os.path.basename(p)
        self._wait(lambda: any(name in w.title for w in self.display.windows()), 20, f"no window showed {name}")
        return {"status": "success"}

    def activate_window(self, name: str, strict: bool = False, by_class: bool = False) -> dict[str, Any]:
        for w in reversed(self.display.windows()):
            hay = w.wm_class if by_class else w.title
            if (hay == name) if strict else (name.lower() in hay.lower()):
                self.execute(["xdotool", "windowactivate", "--sync", str(w.id)], timeout=10)
                return {"status": "success"}
        return {"status": "error", "message": f"no window named {name!r}"}

    def close_window(self, name: str, strict: bool = False, by_class: bool = False) -> dict[str, Any]:
        for w in reversed(self.display.windows()):
            hay = w.wm_class if by_class else w.title
            if (hay == name) if strict else (name.lower() in hay.lower()):
                self.execute(["xdotool", "windowclose", str(w.id)], timeout=10)
                return {"status": "success"}
        return {"status": "error", "message": f"no window named {name!r}"}

    # -- files -------------------------------------------------------------------------------------
    @staticmethod
    def _abs(path: str) -> str:
        path = path.replace("~", HOME, 1) if path.startswith("~") else path
        return path if path.startswith("/") else f"{HOME}/{path}"

    def get_file(self, path: str) -> bytes:
        return self.sb.read_file(self._abs(path))

    def put_file(self, path: str, data: bytes) -> None:
        self.sb.write_file(self._abs(path), data)

    def list_directory(self, path: str) -> dict[str, Any]:
        r = self.execute(["find", self._abs(path), "-maxdepth", "1", "-printf", "%y %P\\n"])
        entries = [{"name": line[2:], "type": "directory" if line[0] == "d" else "file"}
                   for line in r["output"].splitlines() if len(line) > 2]
        return {"path": self._abs(path), "entries": entries}

    # -- state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What the screen shows besides pixels: windows, the active one, the browser's active tab."""
        active = self.display.active_window()
        out: dict[str, Any] = {"active_window": active.title if active else None,
                               "active_class": active.wm_class if active else None,
                               "windows": [w.title for w in self.display.windows()],
                               "url": None, "last_exit": self.last_exit}
        out["loading"] = False
        if self.browser is not None and self.browser.alive:
            try:
                tab = self.browser.active_tab()
                out["url"] = tab.url
                out["loading"] = self.browser.evaluate("document.readyState", tab.id, timeout=2) != "complete"
            except BrowserError:
                pass
        return out

    def browser_info(self, what: str) -> Any:
        """``active_tab`` ({title, url, content}), ``tabs`` ([{title, url}]) or ``alive``."""
        if what == "alive":
            return self.browser is not None and self.browser.alive
        if self.browser is None or not self.browser.alive:
            raise BrowserError("Chromium is not running")
        if what == "active_tab":
            return self.browser.active_tab_info()
        if what == "tabs":
            return [{"title": t.title, "url": t.url} for t in self.browser.tabs()]
        raise BrowserError(f"unknown browser query {what!r}")

    def cdp_socket(self) -> str | None:
        """Host path of the Unix socket that reaches the sandbox's 127.0.0.1:9222, or None (no socat)."""
        sb = self.sandbox
        path = getattr(sb, "cdp_socket", None)
        return path if path and os.path.exists(path) else None

    def browser_eval(self, expression: str) -> Any:
        if self.browser is None or not self.browser.alive:
            raise BrowserError("Chromium is not running")
        return self.browser.evaluate(expression)
