"""The controller: an HTTP server speaking OSWorld's VM-server API for one ``Desktop``.

Run ``python -m claw_envs.gui.server [--port 0] [--host 127.0.0.1]``; once the desktop is up it prints one
JSON line ``{"url": ..., "display": ..., "pid": ...}`` on stdout and serves until SIGTERM/SIGINT, or until
the process that started it exits. Closing tears down every desktop process (apps, sandbox, Xvfb).

OSWorld endpoints (same names, request and response shapes as OSWorld's ``desktop_env/server/main.py``):

* ``GET /screenshot`` → PNG; ``GET /accessibility`` → ``{"AT": xml}``; ``GET /platform``;
  ``GET /cursor_position`` → ``[x, y]``; ``POST /screen_size`` → ``{"width", "height"}``;
  ``POST /window_size`` (form ``app_class_name``);
* ``POST /execute`` and ``/setup/execute`` (JSON ``{"command": str | [argv], "shell": bool}``) →
  ``{"status", "output", "error", "returncode"}``; ``POST /run_python`` (``{"code"}``);
  ``POST /run_bash_script`` (``{"script", "timeout", "working_dir"}``);
* ``POST /file`` (form ``file_path``) → the file's bytes; ``POST /setup/upload`` (multipart ``file_path``,
  ``file_data``); ``POST /list_directory`` (``{"path"}``); ``POST /desktop_path``;
* ``POST /setup/launch`` (``{"command", "shell"}``), ``/setup/open_file`` (``{"path"}``),
  ``/setup/activate_window`` and ``/setup/close_window`` (``{"window_name", "strict", "by_class"}``).

Every request must carry the desktop's secret, ``Authorization: Bearer <token>`` (or ``X-Claw-Token``):
the token comes from ``$CLAW_GUI_TOKEN`` (providers set it) or is generated and announced in the JSON line;
requests without it get HTTP 401 and reach nothing. ``GET /terminal`` returns the text of the terminal
windows opened with Ctrl+Alt+T (OSWorld's ``vm_terminal_output``).

Chrome DevTools: ``/json/...`` and ``/devtools/...`` requests (HTTP and WebSocket) are relayed, after the
secret check, to the sandbox's 127.0.0.1:9222 — where OSWorld's configs forward Chrome's debugging port
with ``socat`` — so CDP clients such as Playwright's ``connect_over_cdp(url, headers={"Authorization":
...})`` drive the desktop's browser the way OSWorld's getters do. 502 when nothing listens there.

claw extensions under ``/claw/``: ``POST /claw/reset`` (fresh session), ``GET /claw/state`` (active window,
windows, active URL, last exit status), ``GET /claw/browser/active_tab`` / ``tabs``, ``POST
/claw/browser/eval`` (``{"expression"}``), ``POST /claw/browser/close_tabs`` (``{"prefix"}``). Errors answer ``{"status": "error", "message"}`` with HTTP 4xx/5xx.

All desktop work runs on one long-lived worker thread: the desktop's processes are tied to the thread that
started them (parent-death signals), and the desktop is single-user anyway.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import email.parser
import email.policy
import hmac
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from claw_envs.core.errors import ClawError
from claw_envs.gui.a11y import build_tree
from claw_envs.gui.desktop import Desktop

log = logging.getLogger(__name__)


class Controller:
    """Routes requests to a ``Desktop`` on its worker thread."""

    def __init__(self, desktop: Desktop):
        self.desktop = desktop
        self.ops = cf.ThreadPoolExecutor(1, thread_name_prefix="desktop")

    def run(self, fn, *args, **kwargs):
        return self.ops.submit(fn, *args, **kwargs).result()

    def accessibility(self) -> str:
        d = self.desktop
        active = d.display.active_window()
        page = None
        if d.browser is not None and d.browser.alive:
            try:
                info = d.browser.active_tab()
                page = {"url": info.url, "title": info.title, "nodes": d.browser.ax_tree(info.id)}
            except ClawError:
                page = None
        return build_tree(d.display.windows(), active.id if active else None,
                          (d.display.width, d.display.height), page)


def _json(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    obj = json.loads(body)
    if not isinstance(obj, dict):
        raise ValueError("the request body must be a JSON object")
    return obj


def _form(ctype: str, body: bytes) -> dict[str, Any]:
    """Fields of a urlencoded or multipart form (file fields as bytes), or of a JSON body."""
    if ctype.startswith("application/json"):
        return _json(body)
    if ctype.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body)
        out: dict[str, Any] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            out[name] = payload if part.get_filename() else payload.decode("utf-8", "replace")
        return out
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}


def make_handler(ctl: Controller, token: str):
    d = ctl.desktop
    want = token.encode()

    def authorized(headers) -> bool:
        auth = headers.get("Authorization", "")
        got = auth[7:].strip() if auth.startswith("Bearer ") else headers.get("X-Claw-Token", "")
        return hmac.compare_digest(got.encode(), want)

    def cmd_args(req: dict) -> tuple[Any, bool]:
        command = req.get("command")
        if not isinstance(command, str | list) or not command:
            raise ValueError("'command' must be a non-empty string or list of strings")
        return command, bool(req.get("shell", False))

    routes_get = {
        "/screenshot": lambda q: ("image/png", d.display.screenshot_png()),
        "/accessibility": lambda q: {"AT": ctl.run(ctl.accessibility)},
        "/platform": lambda q: ("text/plain", b"Linux"),
        "/cursor_position": lambda q: list(d.display.cursor()),
        "/claw/state": lambda q: ctl.run(d.state),
        "/claw/health": lambda q: {"status": "ok"},
        "/claw/browser/active_tab": lambda q: ctl.run(d.browser_info, "active_tab"),
        "/claw/browser/tabs": lambda q: ctl.run(d.browser_info, "tabs"),
        "/terminal": lambda q: {"output": ctl.run(d.terminal_output)},
    }

    def run_bash(req: dict) -> dict:
        r = ctl.run(d.execute, str(req.get("script", "")), True, float(req.get("timeout") or 30),
                    req.get("working_dir"))
        return {**r, "status": "success" if r["returncode"] == 0 else "error"}

    def upload(req: dict) -> dict:
        data = req.get("file_data")
        if not isinstance(req.get("file_path"), str) or data is None:
            raise ValueError("multipart fields 'file_path' and 'file_data' are required")
        ctl.run(d.put_file, req["file_path"], data if isinstance(data, bytes) else str(data).encode())
        return {"status": "success"}

    def window_size(req: dict) -> dict:
        name = str(req.get("app_class_name", "")).lower()
        for w in d.display.windows():
            if name in w.wm_class.lower():
                return {"width": w.width, "height": w.height}
        raise LookupError(f"no window of class {name!r}")

    routes_post = {
        "/screen_size": lambda r: {"width": d.display.width, "height": d.display.height},
        "/window_size": window_size,
        "/execute": lambda r: ctl.run(d.execute, *cmd_args(r), float(r.get("timeout") or 60)),
        "/setup/execute": lambda r: ctl.run(d.execute, *cmd_args(r), float(r.get("timeout") or 60)),
        "/run_python": lambda r: ctl.run(d.run_python, str(r.get("code", "")), float(r.get("timeout") or 60)),
        "/run_bash_script": run_bash,
        "/file": lambda r: ("application/octet-stream", ctl.run(d.get_file, _req(r, "file_path"))),
        "/setup/upload": upload,
        "/list_directory": lambda r: ctl.run(d.list_directory, _req(r, "path")),
        "/desktop_path": lambda r: {"desktop_path": "/home/user/Desktop"},
        "/setup/launch": lambda r: ctl.run(d.launch, *cmd_args(r)),
        "/setup/open_file": lambda r: ctl.run(d.open_file, _req(r, "path")),
        "/setup/activate_window": lambda r: ctl.run(d.activate_window, _req(r, "window_name"),
                                                    bool(r.get("strict")), bool(r.get("by_class"))),
        "/setup/close_window": lambda r: ctl.run(d.close_window, _req(r, "window_name"),
                                                 bool(r.get("strict")), bool(r.get("by_class"))),
        "/claw/reset": lambda r: (ctl.run(d.reset), {"status": "success"})[1],
        "/claw/browser/eval": lambda r: {"value": ctl.run(d.browser_eval, _req(r, "expression"))},
        "/claw/browser/close_tabs": lambda r: {"closed": ctl.run(d.close_tabs, _req(r, "prefix"))},
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else a response's last segment waits ~40 ms for a delayed ACK

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, code: int, ctype: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self._headers_buffer.append(b"\r\n")  # headers and body in one write
            self._headers_buffer.append(body)
            self.flush_headers()

        def _refuse(self) -> bool:
            if authorized(self.headers):
                return False
            self._send(401, "application/json", json.dumps(
                {"status": "error", "message": "this desktop's controller needs its secret: send "
                 "'Authorization: Bearer <token>' (the token the provider started it with)"}).encode())
            return True

        def _dispatch(self, routes: dict, arg: Any) -> None:
            path = self.path.split("?", 1)[0]
            fn = routes.get(path)
            if fn is None:
                self._send(404, "application/json", json.dumps(
                    {"status": "error", "message": f"no endpoint {self.command} {path}"}).encode())
                return
            try:
                out = fn(arg)
                if isinstance(out, tuple):
                    ctype, body = out
                    self._send(200, ctype, body)
                else:
                    self._send(200, "application/json", json.dumps(out).encode())
            except NotImplementedError as e:
                self._send(501, "application/json", json.dumps({"status": "error", "message": str(e)}).encode())
            except (ValueError, LookupError, TypeError) as e:
                self._send(400, "application/json", json.dumps({"status": "error", "message": str(e)}).encode())
            except ClawError as e:
                self._send(500, "application/json", json.dumps({"status": "error", "message": str(e)}).encode())
            except Exception as e:  # noqa: BLE001 - report, keep serving
                log.error("controller error on %s: %s", path, traceback.format_exc())
                self._send(500, "application/json", json.dumps(
                    {"status": "error", "message": f"{type(e).__name__}: {e}"}).encode())

        def _relay(self) -> None:
            """Relay this request and everything after it (a WebSocket) to Chrome's debugging port."""
            import socket
            path = ctl.run(d.cdp_socket)
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.settimeout(30)
            try:
                if path is None:
                    raise OSError("no CDP forwarder in this desktop (socat missing)")
                up.connect(path)
                upgrade = self.headers.get("Upgrade", "").lower() == "websocket"
                drop = ("authorization", "x-claw-token") + (() if upgrade else ("connection", "keep-alive"))
                head = [self.requestline] + [f"{k}: {v}" for k, v in self.headers.items() if k.lower() not in drop]
                if not upgrade:  # one request, one answer: this connection stays ours (and authenticated per request)
                    head.append("Connection: close")
                up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
                first = up.recv(65536)
                if not first:
                    raise OSError("nothing listens on the desktop's 127.0.0.1:9222 (start Chrome with "
                                  "--remote-debugging-port and forward it, as OSWorld's configs do)")
                if not upgrade:  # read the answer's head, then Content-Length bytes (Chrome keeps the socket open)
                    data = first
                    while b"\r\n\r\n" not in data and (chunk := up.recv(65536)):
                        data += chunk
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = next((int(ln.split(b":", 1)[1]) for ln in head.split(b"\r\n")[1:]
                                   if ln.lower().startswith(b"content-length:")), None)
                    while length is not None and len(body) < length and (chunk := up.recv(65536)):
                        body += chunk
                    chunks = [head, b"\r\n\r\n", body]
            except OSError as e:
                up.close()
                self._send(502, "application/json", json.dumps({"status": "error", "message": str(e)}).encode())
                return
            if not upgrade:
                up.close()
                self._relay_answer(b"".join(chunks))
                return
            self.close_connection = True
            up.settimeout(None)
            self.wfile.write(first)
            self.wfile.flush()
            _splice(self.connection, up)

        def _relay_answer(self, raw: bytes) -> None:
            head, _, body = raw.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            try:
                code = int(lines[0].split()[1])
            except (IndexError, ValueError):
                code = 502
            ctype = next((ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("content-type:")),
                         "application/octet-stream")
            self._send(code, ctype, body)

        def do_GET(self) -> None:  # noqa: N802
            if self._refuse():
                return
            if self.path.startswith(("/json", "/devtools/")):
                self._relay()
                return
            self._dispatch(routes_get, parse_qs(self.path.partition("?")[2]))

        def do_POST(self) -> None:  # noqa: N802
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if self._refuse():
                return
            try:
                req = _form(self.headers.get("Content-Type", ""), body)
            except (ValueError, json.JSONDecodeError) as e:
                self._send(400, "application/json", json.dumps(
                    {"status": "error", "message": f"bad request body: {e}"}).encode())
                return
            self._dispatch(routes_post, req)

    return Handler


def _splice(a, b) -> None:
    """Copy bytes both ways between two connected sockets until either side closes."""
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ, b)
    sel.register(b, selectors.EVENT_READ, a)
    try:
        while True:
            for key, _ in sel.select(timeout=600):
                data = key.fileobj.recv(65536)
                if not data:
                    return
                key.data.sendall(data)
            if not sel.get_map():
                return
    except OSError:
        return
    finally:
        sel.close()
        b.close()


def _req(r: dict, key: str) -> str:
    v = r.get(key)
    if not isinstance(v, str) or not v:
        raise ValueError(f"'{key}' is required (a non-empty string)")
    return v


def _not_supported(what: str):
    raise NotImplementedError(f"not supported by this controller: {what}")


def serve(host: str = "127.0.0.1", port: int = 0, width: int = 1280, height: int = 720,
          log_dir: str | None = None, announce=None, isolation: str = "sandbox", client_password: str = "password",
          token: str | None = None) -> None:
    """Start a desktop and serve it until SIGTERM/SIGINT or the parent process exits.

    ``token`` (default ``$CLAW_GUI_TOKEN``, else a fresh random one, then announced) is required on requests.
    """
    import secrets
    announce_token = not (token or os.environ.get("CLAW_GUI_TOKEN"))
    token = token or os.environ.pop("CLAW_GUI_TOKEN", None) or secrets.token_urlsafe(32)
    desktop = Desktop(width, height, log_dir=log_dir, isolation=isolation, client_password=client_password)
    ctl = Controller(desktop)
    server = None
    try:
        ctl.run(desktop.start)
        server = ThreadingHTTPServer((host, port), make_handler(ctl, token))
        server.daemon_threads = True
        url = f"http://{host}:{server.server_address[1]}"
        info = {"url": url, "display": desktop.display.name, "pid": os.getpid()}
        if announce_token:
            info["token"] = token
        (announce or (lambda i: (print(json.dumps(i)), sys.stdout.flush())))(info)
        stop = threading.Event()

        def on_signal(*_: Any) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        parent = os.getppid()
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        while not stop.wait(0.5):
            if os.getppid() != parent:
                break
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        try:
            ctl.run(desktop.close)
        finally:
            ctl.ops.shutdown(wait=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="OSWorld-compatible controller for one desktop")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--log-dir", default=None)
    ap.add_argument("--client-password", default="password", help="OSWorld's {CLIENT_PASSWORD}; the desktop's sudo "
                    "accepts it")
    ap.add_argument("--isolation", choices=("sandbox", "container"), default="sandbox",
                    help="sandbox: apps and model code in bubblewrap (default); container: the container is the "
                         "sandbox (docker provider)")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    t = time.monotonic()
    try:
        serve(a.host, a.port, a.width, a.height, a.log_dir, isolation=a.isolation, client_password=a.client_password)
    except ClawError as e:
        print(json.dumps({"error": str(e), "after_s": round(time.monotonic() - t, 2)}), flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
