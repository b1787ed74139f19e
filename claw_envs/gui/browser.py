"""Chromium inside the desktop sandbox, driven over the Chrome DevTools Protocol on a pipe.

Chromium runs in the sandbox's own network namespace, so no TCP debugging port is reachable from the host;
instead it is started with ``--remote-debugging-pipe`` (CDP messages as NUL-terminated JSON on fds 3 and
4), the transport Playwright itself uses for browsers it launches. ``Browser`` is a small thread-safe CDP
client over that pipe: tab list, the active tab (the one whose document is visible), JavaScript
evaluation, the accessibility tree (``Accessibility.getFullAXTree``) and opening/closing tabs.

Contract: every call either returns CDP's ``result`` or raises ``BrowserError`` with the CDP error or
"browser exited"; calls time out after ``timeout`` seconds.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from claw_envs.core.errors import ClawError

CHROMIUM = "/usr/bin/chromium"
PROFILE = "/home/user/.config/google-chrome"  # OSWorld's Chrome profile folder (its getters read files there)
FLAGS = ("--no-sandbox", "--test-type", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
         "--disable-default-apps", "--disable-extensions", "--password-store=basic", "--disable-dev-shm-usage",
         "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider,AutofillServerCommunication",
         "--renderer-process-limit=2", "--no-zygote", "--disable-breakpad", "--noerrdialogs",
         "--window-position=0,0", "--window-size=1280,720", "--remote-debugging-pipe")


class BrowserError(ClawError):
    """A CDP call failed (the browser exited, timed out, or returned an error)."""


@dataclass(frozen=True)
class Tab:
    id: str
    url: str
    title: str


class Browser:
    """A CDP client over a pipe to a Chromium process. Use ``launch`` to start one in a sandbox."""

    def __init__(self, proc, write_fd: int, read_fd: int, timeout: float = 10.0):
        self.proc = proc
        self._w = write_fd
        self._r = read_fd
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[int, dict] = {}
        self._cv = threading.Condition()
        self._wlock = threading.Lock()
        self._sessions: dict[str, str] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls, sandbox, urls: list[str] | None = None, extra_args: list[str] | None = None,
               log: str | None = None, executable: str = CHROMIUM) -> Browser:
        """Start Chromium in ``sandbox`` (a ``DesktopSandbox``) showing ``urls`` (each in a tab)."""
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        argv = [executable, *FLAGS, f"--user-data-dir={PROFILE}", *(extra_args or []), *(urls or ["about:blank"])]
        try:
            proc = sandbox.spawn(argv, fd_map={3: to_chrome_r, 4: from_chrome_w}, log=log)
        finally:
            os.close(to_chrome_r)
            os.close(from_chrome_w)
        b = cls(proc, to_chrome_w, from_chrome_r)
        b.wait_ready()
        return b

    # -- transport ---------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                try:
                    msg = json.loads(raw)
                except json.JSONDecodeError:
                    continue
                if "id" in msg:
                    with self._cv:
                        self._pending[msg["id"]] = msg
                        self._cv.notify_all()
                elif msg.get("method") == "Target.detachedFromTarget":
                    sid = msg.get("params", {}).get("sessionId")
                    self._sessions = {t: s for t, s in self._sessions.items() if s != sid}
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send one CDP command and wait for its result."""
        if self._closed:
            raise BrowserError("the browser has exited")
        mid = next(self._ids)
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        with self._wlock:
            try:
                os.write(self._w, data)
            except OSError as e:
                raise BrowserError(f"the browser has exited ({e})") from e
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cv:
            while mid not in self._pending:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise BrowserError(f"CDP {method}: " + ("the browser has exited" if self._closed
                                                             else f"no answer within {timeout or self.timeout} s"))
                self._cv.wait(left)
            reply = self._pending.pop(mid)
        if "error" in reply:
            raise BrowserError(f"CDP {method}: {reply['error'].get('message', reply['error'])}")
        return reply.get("result", {})

    @property
    def alive(self) -> bool:
        return not self._closed and self.proc.poll() is None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until a page target exists and has finished its first load."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tabs = self.tabs()
            if tabs:
                try:
                    state = self.evaluate("document.readyState", tabs[0].id, timeout=2)
                    if state == "complete":
                        return
                except BrowserError:
                    pass
            time.sleep(0.05)
        raise BrowserError(f"Chromium showed no loaded page within {timeout} s")

    # -- tabs --------------------------------------------------------------------------------------
    def tabs(self) -> list[Tab]:
        """Open tabs (page targets) in Chromium's order."""
        infos = self.call("Target.getTargets").get("targetInfos", [])
        return [Tab(t["targetId"], t.get("url", ""), t.get("title", "")) for t in infos if t.get("type") == "page"]

    def _session(self, target_id: str) -> str:
        sid = self._sessions.get(target_id)
        if sid is None:
            sid = self.call("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
            self._sessions[target_id] = sid
        return sid

    def evaluate(self, expression: str, target_id: str | None = None, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in a tab (default: the active one) and return its JSON value."""
        tid = target_id or self.active_tab().id
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      session=self._session(tid), timeout=timeout)
        if "exceptionDetails" in r:
            raise BrowserError(f"JavaScript error: {r['exceptionDetails'].get('text', r['exceptionDetails'])}")
        return r.get("result", {}).get("value")

    def active_tab(self) -> Tab:
        """The tab the user sees (its document is visible); the first tab when none reports it."""
        tabs = self.tabs()
        if not tabs:
            raise BrowserError("Chromium has no open tab")
        for t in tabs:
            try:
                if self.evaluate("document.visibilityState", t.id, timeout=2) == "visible":
                    return t
            except BrowserError:
                continue
        return tabs[0]

    def active_tab_info(self) -> dict[str, str]:
        """``{"title", "url", "content"}`` of the active tab (content: the page's visible text)."""
        t = self.active_tab()
        try:
            info = self.evaluate("({title: document.title, url: location.href, content: document.body ? "
                                 "document.body.innerText : ''})", t.id)
        except BrowserError:
            info = {"title": t.title, "url": t.url, "content": ""}
        return {"title": str(info.get("title", "")), "url": str(info.get("url", "")),
                "content": str(info.get("content", ""))}

    def open_tab(self, url: str) -> str:
        return self.call("Target.createTarget", {"url": url})["targetId"]

    def close_tab(self, target_id: str) -> None:
        self.call("Target.closeTarget", {"targetId": target_id})

    def ax_tree(self, target_id: str | None = None) -> list[dict]:
        """The raw CDP accessibility nodes of a tab (default: the active one)."""
        tid = target_id or self.active_tab().id
        return self.call("Accessibility.getFullAXTree", {}, session=self._session(tid)).get("nodes", [])

    def close(self) -> None:
        if self.alive:
            try:
                self.call("Browser.close", timeout=3)
            except BrowserError:
                pass
        try:
            self.proc.wait(timeout=3)
        except Exception:  # noqa: BLE001 - killed below
            self.proc.kill()
            self.proc.wait(timeout=5)
        for fd in (self._w, self._r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._closed = True
