"""HTTP client of a controller (ours or a real OSWorld VM's server): the only way the env touches a desktop.

Contract: every method returns the server's answer or raises ``SandboxError`` naming the endpoint and the
server's message. One persistent HTTP/1.1 connection per client (a lock makes it safe across threads).
``has_claw`` says whether the server offers the claw extensions (``/claw/...``); a plain OSWorld server
does not, and the getters fall back to OSWorld's own ways (accessibility tree, CDP port 9222).
``token`` (claw controllers) is sent on every request as ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import http.client
import json
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from claw_envs.core.errors import SandboxError


class ControllerClient:
    def __init__(self, url: str, timeout: float = 120.0, token: str | None = None):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SandboxError(f"controller url must look like http://HOST:PORT, got {url!r}")
        self.url = url.rstrip("/")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        self.token = token
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._claw: bool | None = None

    # -- transport ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: bytes | None = None, ctype: str | None = None,
                timeout: float | None = None) -> tuple[int, str, bytes]:
        """``(status, content type, body)``; connection failures raise ``SandboxError``."""
        headers = {"Content-Type": ctype} if ctype else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        with self._lock:
            for attempt in (0, 1):
                try:
                    if self._conn is None:
                        self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
                    self._conn.timeout = timeout or self.timeout
                    if self._conn.sock is not None:
                        self._conn.sock.settimeout(timeout or self.timeout)
                    self._conn.request(method, path, body=body, headers=headers)
                    r = self._conn.getresponse()
                    return r.status, r.getheader("Content-Type", ""), r.read()
                except (ConnectionError, http.client.HTTPException, OSError) as e:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    if attempt or isinstance(e, TimeoutError):
                        raise SandboxError(f"controller {self.url}{path} unreachable: {e}") from e
        raise AssertionError("unreachable")

    def _call(self, method: str, path: str, payload: dict | None = None, timeout: float | None = None) -> Any:
        body = json.dumps(payload).encode() if payload is not None else None
        status, ctype, data = self.request(method, path, body, "application/json" if body else None, timeout)
        if status != 200:
            try:
                msg = json.loads(data).get("message", data[:300].decode(errors="replace"))
            except (ValueError, AttributeError):
                msg = data[:300].decode(errors="replace")
            raise SandboxError(f"controller {method} {path} failed (HTTP {status}): {msg}")
        return json.loads(data) if ctype.startswith("application/json") else data

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- OSWorld API -------------------------------------------------------------------------------
    def screenshot(self) -> bytes:
        return self._call("GET", "/screenshot")

    def accessibility_tree(self) -> str:
        return self._call("GET", "/accessibility")["AT"]

    def screen_size(self) -> tuple[int, int]:
        r = self._call("POST", "/screen_size", {})
        return int(r["width"]), int(r["height"])

    def execute(self, command: list[str] | str, shell: bool = False, timeout: float = 60.0) -> dict[str, Any]:
        return self._call("POST", "/execute", {"command": command, "shell": shell, "timeout": timeout},
                          timeout=timeout + 30)

    def run_python(self, code: str, timeout: float = 60.0) -> dict[str, Any]:
        """Run Python with pyautogui imported; falls back to ``/execute`` on servers without ``/run_python``."""
        try:
            return self._call("POST", "/run_python", {"code": code, "timeout": timeout}, timeout=timeout + 30)
        except SandboxError as e:
            if "HTTP 404" not in str(e):
                raise
        prelude = "import pyautogui; import time; pyautogui.FAILSAFE = False\n"
        return self.execute(["python", "-c", prelude + code], timeout=timeout)

    def get_file(self, path: str) -> bytes:
        body = f"file_path={_urlq(path)}".encode()
        status, _, data = self.request("POST", "/file", body, "application/x-www-form-urlencoded")
        if status != 200:
            raise SandboxError(f"could not fetch {path} from the desktop (HTTP {status}): {data[:200]!r}")
        return data

    def put_file(self, path: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        parts = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file_path\"\r\n\r\n{path}\r\n"
                 f"--{boundary}\r\nContent-Disposition: form-data; name=\"file_data\"; filename=\"f\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        status, _, out = self.request("POST", "/setup/upload", parts, f"multipart/form-data; boundary={boundary}")
        if status != 200:
            raise SandboxError(f"could not upload {path} to the desktop (HTTP {status}): {out[:200]!r}")

    def launch(self, command: list[str] | str, shell: bool = False) -> Any:
        return self._call("POST", "/setup/launch", {"command": command, "shell": shell})

    def open_file(self, path: str) -> Any:
        return self._call("POST", "/setup/open_file", {"path": path})

    def activate_window(self, name: str, strict: bool = False, by_class: bool = False) -> Any:
        return self._call("POST", "/setup/activate_window", {"window_name": name, "strict": strict, "by_class": by_class})

    def close_window(self, name: str, strict: bool = False, by_class: bool = False) -> Any:
        return self._call("POST", "/setup/close_window", {"window_name": name, "strict": strict, "by_class": by_class})

    # -- claw extensions ---------------------------------------------------------------------------
    @property
    def has_claw(self) -> bool:
        if self._claw is None:
            try:
                self._call("GET", "/claw/health", timeout=10)
                self._claw = True
            except SandboxError:
                self._claw = False
        return self._claw

    def reset(self) -> None:
        self._call("POST", "/claw/reset", {})

    def state(self) -> dict[str, Any]:
        return self._call("GET", "/claw/state")

    def active_tab(self) -> dict[str, str]:
        return self._call("GET", "/claw/browser/active_tab")

    def tabs(self) -> list[dict[str, str]]:
        return self._call("GET", "/claw/browser/tabs")

    def browser_eval(self, expression: str) -> Any:
        return self._call("POST", "/claw/browser/eval", {"expression": expression})["value"]


def _urlq(s: str) -> str:
    from urllib.parse import quote
    return quote(s, safe="")
