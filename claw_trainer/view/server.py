"""The ``claw view`` web server: one static page plus a small JSON API, Python stdlib only.

Routes (all ``GET``; runs are addressed by the ``run`` query parameter, turns by ``id``):

* ``/`` — the page (``static/index.html``: plain HTML and JavaScript, no build step);
* ``/api/runs`` — a summary per run;
* ``/api/run?run=R`` — the run's summary, metrics rows, gate decisions, report and config;
* ``/api/turns?run=R&task=&step=&train_step=&min_reward=&max_reward=&vote=&status=&gui=&offset=&limit=`` —
  filtered turn rows (without the conversation); ``vote`` is ``1``, ``-1``, ``0`` or ``none``; ``status`` is
  ``kept`` (anything not dropped), ``dropped`` or an exact store status (``trained``, ``judged``...);
* ``/api/turn?run=R&id=N`` — one turn in full, with its tokens and their trained advantages;
* ``/api/screenshot?run=R&id=N[&before=1]`` — a GUI turn's screenshot as PNG.

The server binds 127.0.0.1 by default and only reads files; errors are JSON ``{"error": ...}`` with a 4xx code.
Requests whose ``Host`` is not this server (DNS rebinding) get 403. Binding beyond loopback needs a token
(``--token-file`` or ``CLAW_VIEW_TOKEN``) or ``--insecure``; with a token, every request must carry it as
``Authorization: Bearer``, ``?token=`` (the page's first load, which sets an HttpOnly SameSite cookie) or
that cookie. The run's config is served with its secrets redacted.
"""

from __future__ import annotations

import hmac
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from claw_envs.core.netguard import allowed_hosts, check_bind, host_allowed, redact
from claw_trainer.view.runs import Run

PAGE = Path(__file__).with_name("static") / "index.html"
COOKIE = "claw_view_token"
_LIGHT = ("id", "task_id", "episode", "step", "version", "reward", "outcome", "process", "vote", "hint", "a_rl",
          "status", "reason", "train_step", "n_tokens", "gui", "env_id", "done", "session")


class BadRequest(Exception):
    pass


def _num(q: dict[str, str], key: str, cast: Any = float) -> Any:
    v = q.get(key, "")
    if v == "":
        return None
    try:
        return cast(v)
    except ValueError as e:
        raise BadRequest(f"{key} must be a number, got {v!r}") from e


def filter_turns(turns: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
    """The turns matching every given filter (see the module docstring for the keys)."""
    task, status, vote, gui = q.get("task", ""), q.get("status", ""), q.get("vote", ""), q.get("gui", "")
    step, train_step = _num(q, "step", int), _num(q, "train_step", int)
    lo, hi = _num(q, "min_reward"), _num(q, "max_reward")
    if vote not in ("", "1", "+1", "-1", "0", "none"):
        raise BadRequest(f"vote must be 1, -1, 0 or none, got {vote!r}")
    out = []
    for t in turns:
        if task and str(t["task_id"]) != task:
            continue
        if step is not None and t["step"] != step:
            continue
        if train_step is not None and t["train_step"] != train_step:
            continue
        r = t["reward"] if t["reward"] is not None else 0.0
        if (lo is not None and r < lo) or (hi is not None and r > hi):
            continue
        if vote == "none" and t["vote"] is not None:
            continue
        if vote not in ("", "none") and t["vote"] != int(vote):
            continue
        if status == "kept" and t["status"] == "dropped":
            continue
        if status and status != "kept" and t["status"] != status:
            continue
        if gui in ("1", "true") and not t["gui"]:
            continue
        out.append(t)
    return out


class _Handler(BaseHTTPRequestHandler):
    server: ViewHTTPServer

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet: the CLI prints the URL once
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj: Any, code: int = 200) -> None:
        self._send(code, json.dumps(obj, default=str).encode(), "application/json")

    def _run(self, q: dict[str, str]) -> Run:
        name = q.get("run", "")
        run = self.server.runs.get(name)
        if run is None:
            raise LookupError(f"no run named {name!r}; known: {sorted(self.server.runs)}")
        return run

    def _turn(self, run: Run, q: dict[str, str]) -> dict[str, Any]:
        idx = _num(q, "id", int)
        turn = run.turn(idx) if idx is not None else None
        if turn is None:
            raise LookupError(f"run {run.name!r} has no turn {q.get('id')!r}")
        return turn

    def _authorized(self, q: dict[str, str]) -> bool:
        token = self.server.token
        if token is None:
            return True
        auth = self.headers.get("Authorization", "")
        cookies = dict(c.strip().split("=", 1) for c in self.headers.get("Cookie", "").split(";") if "=" in c)
        given = [auth[7:] if auth.startswith("Bearer ") else "", q.get("token", ""), cookies.get(COOKIE, "")]
        return any(g and hmac.compare_digest(g.encode(), token.encode()) for g in given)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not host_allowed(self.headers.get("Host"), self.server.allowed):
            self._json({"error": f"Host {self.headers.get('Host')!r} is not this server (allowed: "
                                 f"{sorted(self.server.allowed)})"}, HTTPStatus.FORBIDDEN)
            return
        if not self._authorized(q):
            self._json({"error": "this claw view needs its token (Authorization: Bearer, or ?token= once)"},
                       HTTPStatus.UNAUTHORIZED)
            return
        try:
            if url.path in ("/", "/index.html"):
                body = PAGE.read_bytes()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                if self.server.token and q.get("token"):
                    self.send_header("Set-Cookie", f"{COOKIE}={self.server.token}; HttpOnly; SameSite=Strict; Path=/")
                self.end_headers()
                self.wfile.write(body)
            elif url.path == "/api/runs":
                self._json([r.summary() for r in self.server.runs.values()])
            elif url.path == "/api/run":
                run = self._run(q)
                self._json({**run.summary(), "metrics": run.metrics(), "gate": run.gate(), "report": run.report(),
                            "config": redact(run.config())})
            elif url.path == "/api/turns":
                rows = filter_turns(self._run(q).turns(), q)
                offset, limit = _num(q, "offset", int) or 0, _num(q, "limit", int) or 200
                self._json({"total": len(rows), "offset": offset,
                            "turns": [{k: t[k] for k in _LIGHT} for t in rows[offset:offset + limit]]})
            elif url.path == "/api/turn":
                run = self._run(q)
                turn = self._turn(run, q)
                self._json({**{k: v for k, v in turn.items() if k != "completion_ids"}, **run.tokens(turn),
                            "has_screenshot": turn["gui"] and run.screenshot(turn) is not None})
            elif url.path == "/api/screenshot":
                run = self._run(q)
                png = run.screenshot(self._turn(run, q), before=q.get("before") in ("1", "true"))
                if png is None:
                    raise LookupError("this turn has no recorded screenshot")
                self._send(200, png, "image/png")
            else:
                self._json({"error": f"no route {url.path}"}, HTTPStatus.NOT_FOUND)
        except BadRequest as e:
            self._json({"error": str(e)}, HTTPStatus.BAD_REQUEST)
        except LookupError as e:
            self._json({"error": str(e)}, HTTPStatus.NOT_FOUND)


class ViewHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, runs: list[Run], host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 insecure: bool = False, extra_hosts: tuple[str, ...] = ()):
        check_bind(host, token is not None, insecure, "claw view")
        self.runs = {r.name: r for r in runs}
        self.token = token
        self.allowed = allowed_hosts(host, extra_hosts)
        super().__init__((host, port), _Handler)


class ViewServer:
    """``ViewServer(runs).start()`` serves in a background thread; ``serve_forever()`` blocks (the CLI).
    ``token``: required from every client when set; ``extra_hosts``: Host names to answer to besides
    loopback and the bind address (a non-loopback bind without a token raises ``ConfigError`` unless
    ``insecure``)."""

    def __init__(self, runs: list[Run], host: str = "127.0.0.1", port: int = 0, token: str | None = None,
                 insecure: bool = False, extra_hosts: tuple[str, ...] = ()):
        self.httpd = ViewHTTPServer(runs, host, port, token, insecure, extra_hosts)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> ViewServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True, name="claw-view")
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        try:
            self.httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.httpd.server_close()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> ViewServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
