"""``claw env-server``: any claw env behind OpenEnv's wire protocol (WebSocket + HTTP), so out-of-process
clients — OpenEnv's ``EnvClient``/``GenericEnvClient`` (used by TRL, SkyRL, ART, ...) or
:class:`~claw_envs.remote.client.RemoteEnv` — can run episodes on another process or machine.

Protocol (OpenEnv's, read from ``openenv-core``):

* ``WS /ws`` — one env per connection. Client messages ``{"type": "reset" | "step" | "state" | "close",
  "data": {...}}``; replies ``{"type": "observation", "data": {"observation", "reward", "done"}}``,
  ``{"type": "state", "data": {...}}`` or ``{"type": "error", "data": {"message", "code"}}`` with OpenEnv's
  codes (``INVALID_JSON``, ``UNKNOWN_TYPE``, ``VALIDATION_ERROR``, ``EXECUTION_ERROR``, ``CAPACITY_REACHED``,
  ``FACTORY_ERROR``, ``SESSION_ERROR``). ``reset`` data: ``seed``, ``episode_id``, ``options`` and/or
  ``task_id``; ``step`` data: ``{"text": ...}`` or ``{"message": {...}}`` (see :mod:`claw_envs.remote.wire`).
  Beyond OpenEnv: ``{"type": "call", "data": {"name": "outcome_if_stopped"}}`` (used by the TRL adapter).
  At capacity the server answers the first message with ``CAPACITY_REACHED`` and closes; an idle session (no message for
  ``idle_ttl`` seconds) is closed with WebSocket code 1001; a disconnect closes the session's env.
* ``POST /reset``, ``POST /step`` (``{"action": {...}}``), ``GET /state`` — one shared HTTP session, for
  curl and debugging (not for concurrent clients: use ``/ws``); once used it takes one of the
  ``max_sessions`` slots and idles out like any session.
* ``GET /schema`` (action / observation / state JSON schemas), ``GET /metadata``, ``GET /health``, and
  ``GET /claw/spec`` (env id, kind, spaces, tools: what ``RemoteEnv`` rebuilds its spaces from).

With ``token`` set, every request but ``/health`` needs ``Authorization: Bearer <token>`` (HTTP 401; the
WebSocket handshake is refused with code 1008). Clients that cannot send a header (OpenEnv's own, which appends
``/ws`` to its base URL) use the WebSocket at ``/t/<token>/ws``: base URL ``http://host:port/t/<token>``.

Needs the ``[remote]`` extra (fastapi, uvicorn, websockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, WebSocket, WebSocketDisconnect

from claw_envs.remote import wire
from claw_envs.remote.sessions import CapacityError, Session, SessionTable

log = logging.getLogger(__name__)
Auth = Annotated[str | None, Header()]
ALLOWED_CALLS = ("outcome_if_stopped",)


@dataclass
class ServerConfig:
    """What ``claw env-server`` serves and how."""

    env_id: str = "claw/Terminal-v0"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 8100  # claw env-server (claw serve: 8000, serve-model: 8001, view: 8765)
    max_sessions: int = 8
    idle_ttl: float = 600.0  # seconds without a message before a session is closed; 0 = never
    token: str | None = None  # bearer token required from clients; None = open
    insecure: bool = False  # allow a non-loopback bind without a token (refused otherwise)
    allow_hosts: tuple[str, ...] = ()  # Host names besides loopback and ``host``


def make_env(cfg: ServerConfig) -> Any:
    import gymnasium as gym

    import claw_envs  # noqa: F401 - registers the ids

    return gym.make(cfg.env_id, **cfg.env_kwargs)


def _space_spec(space: Any) -> dict[str, Any]:
    from claw_envs.core.spaces import Chat, UnicodeText

    if isinstance(space, UnicodeText):
        return {"type": "UnicodeText", "max_length": space.max_length}
    if isinstance(space, Chat):
        return {"type": "Chat", "max_messages": space.max_messages, "max_length": space.max_length}
    raise TypeError(f"cannot describe space {space!r} on the wire")


def env_spec(cfg: ServerConfig, env: Any) -> dict[str, Any]:
    """What a client needs to mirror ``env``: ids, kind, spaces, render modes and the tools it offers."""
    base = env.unwrapped
    tools = [t.schema()["function"] for t in base.offered_tools()] if hasattr(base, "offered_tools") else None
    return {"env_id": cfg.env_id, "kind": getattr(base, "kind", None), "metadata": wire.encode(base.metadata),
            "observation_space": _space_spec(env.observation_space), "action_space": _space_spec(env.action_space),
            "tools": tools, "calls": [c for c in ALLOWED_CALLS if hasattr(base, c)]}


ACTION_SCHEMA = {
    "title": "ClawAction", "description": "The model's raw text, or an OpenAI-style assistant message.",
    "oneOf": [{"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
              {"type": "object", "properties": {"message": {"type": "object"}}, "required": ["message"]}]}
OBSERVATION_SCHEMA = {
    "title": "ClawObservation", "type": "object",
    "properties": {"messages": {"type": "array", "items": {"type": "object"},
                                "description": "the chat so far; images as base64 image blocks"},
                   "next_state": {"type": ["object", "null"], "description": "what the world said after the action"},
                   "terminated": {"type": "boolean"}, "truncated": {"type": "boolean"},
                   "reward_channels": {"type": ["object", "null"]}, "info": {"type": "object"},
                   "done": {"type": "boolean"}, "reward": {"type": ["number", "null"]}},
    "required": list(wire.OBS_FIELDS)}
STATE_SCHEMA = {"title": "ClawState", "type": "object",
                "properties": {"episode_id": {"type": ["string", "null"]}, "step_count": {"type": "integer"},
                               "env_id": {"type": "string"}, "task_id": {"type": ["string", "null"]},
                               "session_id": {"type": "string"}}}


class EnvServer:
    """The session logic of the protocol, independent of the web framework (see :func:`create_app`)."""

    def __init__(self, cfg: ServerConfig):
        self.cfg = cfg
        self.table = SessionTable(lambda: make_env(cfg), cfg.max_sessions, cfg.idle_ttl or None)
        probe = make_env(cfg)  # fail fast on a bad env id or kwargs, and describe the env
        try:
            self.spec = env_spec(cfg, probe)
        finally:
            probe.close()
        self.http_session: Session | None = None
        self.http_lock = asyncio.Lock()

    def authorized(self, header: str | None) -> bool:
        if not self.cfg.token:
            return True
        expected = f"Bearer {self.cfg.token}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    async def handle(self, s: Session, msg: dict[str, Any]) -> dict[str, Any]:
        """One client message -> one reply (errors as OpenEnv error replies, never exceptions)."""
        kind = msg.get("type")
        data = msg.get("data") or {}
        try:
            if not isinstance(data, dict):
                raise ValueError('"data" must be a JSON object')
            if kind == "reset":
                return {"type": "observation", "data": await self.reset(s, data)}
            if kind == "step":
                return {"type": "observation", "data": await self.step(s, data)}
            if kind == "state":
                return {"type": "state", "data": s.state(self.cfg.env_id)}
            if kind == "call":
                return {"type": "result", "data": await self.call(s, data)}
            return _error(f"Unknown message type: {kind!r} (expected reset, step, state or close)", "UNKNOWN_TYPE")
        except ValueError as e:
            return _error(str(e), "VALIDATION_ERROR")
        except Exception as e:  # noqa: BLE001 - the env failed; the session stays usable
            log.warning("session %s: %s failed: %s", s.id, kind, e)
            return _error(f"{type(e).__name__}: {e}", "EXECUTION_ERROR")

    async def reset(self, s: Session, data: dict[str, Any]) -> dict[str, Any]:
        seed = data.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        options = dict(data.get("options") or {})
        if data.get("task_id") is not None:
            options["task_id"] = data["task_id"]
        obs, info = await s.run(s.env.reset, seed=seed, options=options or None)
        s.step_count, s.episode_id = 0, data.get("episode_id") or f"{s.id[:8]}-{seed}"
        s.task_id = info.get("task_id") or info.get("instance_id")
        return wire.step_payload(obs, None, False, False, info)

    async def step(self, s: Session, data: dict[str, Any]) -> dict[str, Any]:
        action = wire.action_from_wire(data)
        if s.episode_id is None:
            raise ValueError("step before reset: send a reset message first")
        obs, reward, terminated, truncated, info = await s.run(s.env.step, action)
        s.step_count += 1
        return wire.step_payload(obs, reward, terminated, truncated, info)

    async def call(self, s: Session, data: dict[str, Any]) -> Any:
        name = data.get("name")
        if name not in self.spec["calls"]:
            raise ValueError(f"call {name!r} is not offered; offered: {self.spec['calls']}")
        return wire.encode(await s.run(getattr(s.env.unwrapped, name)))

    async def shared_session(self) -> Session:
        if self.http_session is None or self.http_session.id not in self.table.sessions:
            self.http_session = await self.table.open()
        return self.http_session


def _error(message: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "data": {"message": message, "code": code, **extra}}


def create_app(cfg: ServerConfig) -> Any:
    """The FastAPI app serving ``cfg.env_id`` (run it with uvicorn, or use :func:`serve`)."""
    server = EnvServer(cfg)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        reaper = asyncio.create_task(server.table.reap_forever())
        yield
        reaper.cancel()
        await server.table.close_all()

    app = FastAPI(title=f"claw env-server: {cfg.env_id}", lifespan=lifespan)
    app.state.server = server

    def check(authorization: str | None) -> None:
        if not server.authorized(authorization):
            raise HTTPException(401, "missing or wrong bearer token (send Authorization: Bearer <token>)")

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await serve_ws(ws, ws.headers.get("authorization"))

    @app.websocket("/t/{token}/ws")
    async def ws_token_path(ws: WebSocket, token: str) -> None:
        # OpenEnv's client cannot send headers; it appends /ws to its base URL, so a base URL of
        # http://host:port/t/<token> carries the token in the path instead
        await serve_ws(ws, f"Bearer {token}")

    async def serve_ws(ws: WebSocket, authorization: str | None) -> None:
        if not server.authorized(authorization):
            await ws.close(code=1008, reason="missing or wrong bearer token")
            return
        await ws.accept()
        try:
            s = await server.table.open()
        except CapacityError as e:
            # answer the client's first message (clients send before they read), then close
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.receive_text(), timeout=10)
                await ws.send_text(json.dumps(_error(str(e), "CAPACITY_REACHED", active_sessions=e.active,
                                                     max_sessions=e.max_sessions)))
            with contextlib.suppress(Exception):
                await ws.close()
            return
        except Exception as e:  # noqa: BLE001
            await ws.send_text(json.dumps(_error(f"could not create {cfg.env_id}: {e}", "FACTORY_ERROR",
                                                 factory_name=cfg.env_id)))
            await ws.close()
            return
        s.on_expire = lambda: ws.close(code=1001, reason=f"session idle for more than {cfg.idle_ttl:g} s")
        try:
            while True:
                raw = await ws.receive_text()
                try:
                    msg = json.loads(raw)
                    if not isinstance(msg, dict):
                        raise json.JSONDecodeError("expected an object", raw, 0)
                except json.JSONDecodeError as e:
                    await ws.send_text(json.dumps(_error(f"Invalid JSON: {e}", "INVALID_JSON")))
                    continue
                if msg.get("type") == "close":
                    break
                s.last_activity = time.monotonic()
                reply = await server.handle(s, msg)
                await ws.send_text(json.dumps(reply))
        except (WebSocketDisconnect, RuntimeError):
            pass  # client went away, or the reaper closed the socket
        finally:
            await server.table.close(s)
            with contextlib.suppress(Exception):
                await ws.close()

    async def http(kind: str, data: dict[str, Any]) -> dict[str, Any]:
        async with server.http_lock:
            s = await server.shared_session()
            reply = await server.handle(s, {"type": kind, "data": data})
        if reply["type"] == "error":
            code = 422 if reply["data"]["code"] == "VALIDATION_ERROR" else 500
            raise HTTPException(code, reply["data"]["message"])
        return reply["data"]

    @app.post("/reset")
    async def http_reset(body: Annotated[dict[str, Any] | None, Body()] = None,
                         authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        return await http("reset", body or {})

    @app.post("/step")
    async def http_step(body: Annotated[dict[str, Any], Body()],
                        authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        if not isinstance(body.get("action"), dict):
            raise HTTPException(422, 'POST /step needs {"action": {"text": ...}} or {"action": {"message": ...}}')
        return await http("step", body["action"])

    @app.get("/state")
    async def http_state(authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        return await http("state", {})

    @app.get("/schema")
    async def schema(authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        return {"action": ACTION_SCHEMA, "observation": OBSERVATION_SCHEMA, "state": STATE_SCHEMA}

    @app.get("/metadata")
    async def metadata(authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        from claw_envs import __version__

        return {"name": cfg.env_id, "description": f"claw-gym env {cfg.env_id} (next-state signal in every step)",
                "readme_content": None, "version": __version__, "author": "claw-gym", "documentation_url": None}

    @app.get("/claw/spec")
    async def spec(authorization: Auth = None) -> dict[str, Any]:
        check(authorization)
        return {**server.spec, "max_sessions": cfg.max_sessions, "active_sessions": server.table.active,
                "idle_ttl": cfg.idle_ttl}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "healthy"}

    return app


def serve(cfg: ServerConfig) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    uvicorn.run(guarded_app(cfg), host=cfg.host, port=cfg.port, log_level="warning", ws_max_size=100 * 2**20)


def guarded_app(cfg: ServerConfig) -> Any:
    """:func:`create_app` as served: a non-loopback bind without a token is refused (``ConfigError``) unless
    ``cfg.insecure``; HTTP requests with a foreign ``Host`` and WebSockets with a foreign ``Origin`` (a web
    page in the user's browser) get 403 (claw_envs.core.netguard)."""
    from claw_envs.core.netguard import check_bind, guard_app

    check_bind(cfg.host, bool(cfg.token), cfg.insecure, "claw env-server")
    return guard_app(create_app(cfg), cfg.host, bool(cfg.token), cfg.insecure, cfg.allow_hosts)
