"""``RemoteEnv``: a Gymnasium env whose episodes run on a ``claw env-server`` (OpenEnv's WebSocket protocol).

It mirrors the served env: the same observation/action spaces (read from ``GET /claw/spec``), the same
``(obs, reward, terminated, truncated, info)`` and the same ``info["next_state"]`` (a
:class:`~claw_envs.core.nextstate.NextState`), so it drops into ``ClawVectorEnv``, ``PRMReward`` and the TRL
adapter unchanged::

    env = RemoteEnv("http://10.0.0.5:8100", token="...")
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step("```bash\\nls\\n```")

Failure contract: a lost connection before or during ``reset`` is retried on a new connection
(``reconnect_attempts`` times, with a short backoff) — a new session, a new episode. A connection lost
during an episode cannot be resumed (the server closed that session's env): ``step`` raises
:class:`~claw_envs.core.errors.RemoteError` saying so; the next ``reset`` reconnects. Server-side errors
come back as ``RemoteError`` carrying OpenEnv's error ``code`` (``CAPACITY_REACHED``, ``EXECUTION_ERROR``...).
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import gymnasium as gym

from claw_envs.core.errors import RemoteError
from claw_envs.core.spaces import Chat, UnicodeText
from claw_envs.remote import wire

_SPECS: dict[tuple[str, str | None], dict[str, Any]] = {}


def _space(spec: dict[str, Any]) -> Any:
    if spec["type"] == "UnicodeText":
        return UnicodeText(spec["max_length"])
    if spec["type"] == "Chat":
        return Chat(spec["max_messages"], spec["max_length"])
    raise RemoteError(f"unknown space type {spec['type']!r} from the server")


class _RemoteTool:
    """A tool offered by the remote env, as the TRL adapter reads it (``schema()["function"]``)."""

    def __init__(self, spec: dict[str, Any]):
        self.name, self._spec = spec["name"], spec

    def schema(self) -> dict[str, Any]:
        return {"type": "function", "function": self._spec}


class RemoteEnv(gym.Env):
    """One session on a ``claw env-server`` at ``url`` (``http://host:port``; ``ws://`` also accepted)."""

    def __init__(self, url: str = "http://127.0.0.1:8100", token: str | None = None, timeout: float = 600.0,
                 connect_timeout: float = 10.0, reconnect_attempts: int = 3, render_mode: str | None = None):
        self.url = url.rstrip("/").replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        self.ws_url = self.url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/ws"
        self.token, self.timeout, self.connect_timeout = token, timeout, connect_timeout
        self.reconnect_attempts = reconnect_attempts
        key = (self.url, token)
        if key not in _SPECS:  # cached: a replacement env (e.g. in a vector env) builds while the server is down
            _SPECS[key] = self._get("/claw/spec")
        self.spec_ = _SPECS[key]
        self.env_id = self.spec_["env_id"]
        self.kind = self.spec_.get("kind")
        self.metadata = wire.decode(self.spec_.get("metadata") or {})
        self.render_mode = render_mode
        self.observation_space = _space(self.spec_["observation_space"])
        self.action_space = _space(self.spec_["action_space"])
        self.messages: list[dict[str, Any]] = []
        self.task_id: str | None = None
        self._ws: Any = None
        self._in_episode = False

    # -- HTTP -----------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _get(self, path: str) -> dict[str, Any]:
        req = urllib.request.Request(self.url + path, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.connect_timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            hint = " (pass token=...)" if e.code == 401 else ""
            raise RemoteError(f"env server {self.url}{path} answered HTTP {e.code}: {e.reason}{hint}") from e
        except (urllib.error.URLError, OSError) as e:
            raise RemoteError(f"cannot reach the env server at {self.url} ({e}); start one with "
                              "`claw env-server --env <id> --port N` and check the URL") from e

    # -- WebSocket ------------------------------------------------------------------------------------------
    def _connect(self) -> None:
        import inspect

        try:
            from websockets.sync.client import connect
        except ImportError as e:
            raise RemoteError("RemoteEnv needs the websockets package: pip install 'claw-gym[remote]'") from e

        extra = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
        self._ws = connect(self.ws_url, additional_headers=self._headers(), open_timeout=self.connect_timeout,
                           max_size=None, proxy=None, compression=None, **extra)

    def _drop(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001
                pass
            self._ws = None

    def _exchange(self, msg: dict[str, Any]) -> dict[str, Any]:
        """Send one message, return the reply's ``data``; ConnectionError when the link is gone."""
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        try:
            if self._ws is None:
                self._connect()
            self._ws.send(json.dumps(msg))
            raw = self._ws.recv(timeout=self.timeout)
        except InvalidStatus as e:
            self._drop()
            raise RemoteError(f"env server {self.ws_url} refused the connection "
                              f"(HTTP {e.response.status_code}; a wrong or missing token?)") from e
        except TimeoutError as e:
            self._drop()
            raise RemoteError(f"env server {self.url} sent no reply within {self.timeout:g} s to "
                              f"{msg['type']}; the session was dropped") from e
        except (ConnectionClosed, InvalidHandshake, OSError) as e:
            self._drop()
            raise ConnectionError(str(e) or type(e).__name__) from e
        reply = json.loads(raw)
        if reply.get("type") == "error":
            data = reply.get("data") or {}
            if data.get("code") in ("CAPACITY_REACHED", "FACTORY_ERROR", "SESSION_ERROR"):
                self._drop()  # the server closes these connections
            err = RemoteError(f"env server {self.url}: {data.get('message')} (code {data.get('code')})")
            err.code = data.get("code")  # type: ignore[attr-defined]
            raise err
        return reply.get("data") or {}

    # -- Gymnasium ------------------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        msg = {"type": "reset", "data": {"seed": seed, "options": options or {}}}
        delay = 0.2
        for attempt in range(self.reconnect_attempts + 1):
            try:
                payload = self._exchange(msg)
                break
            except ConnectionError as e:
                if attempt == self.reconnect_attempts:
                    raise RemoteError(f"lost the env server at {self.url} and could not reconnect after "
                                      f"{self.reconnect_attempts} attempts ({e}); is it still running?") from e
                time.sleep(delay)
                delay *= 2
        obs, _, _, _, info = wire.parse_payload(payload)
        self.messages, self.task_id = obs, info.get("task_id")
        self._in_episode = True
        return obs, info

    def step(self, action: Any):
        if not self._in_episode:
            raise RemoteError("step() before reset(), or after the connection to the env server was lost: "
                              "call reset() to start a new episode")
        try:
            payload = self._exchange({"type": "step", "data": wire.action_to_wire(action)})
        except ConnectionError as e:
            self._in_episode = False
            raise RemoteError(f"the env server at {self.url} went away during an episode ({e}); that episode "
                              "is lost (the server closed its env): call reset() to start a new one") from e
        obs, reward, terminated, truncated, info = wire.parse_payload(payload)
        self.messages = obs
        return obs, reward, terminated, truncated, info

    def state(self) -> dict[str, Any]:
        """The session's OpenEnv state: ``episode_id``, ``step_count``, ``env_id``, ``task_id``."""
        return self._exchange({"type": "state"})

    @property
    def offered_tools(self) -> Any:
        """``offered_tools()``: the remote env's tools (what the TRL adapter turns into methods); absent
        (``hasattr`` is False) when the served env offers none, as in-process."""
        if self.spec_.get("tools") is None:
            raise AttributeError("offered_tools: the served env offers no tool list")
        return lambda: [_RemoteTool(t) for t in self.spec_["tools"]]

    @property
    def outcome_if_stopped(self) -> Any:
        """``outcome_if_stopped()`` evaluated by the server's env; absent when the served env has none."""
        if "outcome_if_stopped" not in self.spec_.get("calls", []):
            raise AttributeError("outcome_if_stopped: the served env has none")
        return lambda: float(self._exchange({"type": "call", "data": {"name": "outcome_if_stopped"}}))

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        return "\n".join(f"── {m['role']}\n{m['content']}" for m in self.messages)

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.send(json.dumps({"type": "close"}))
            except Exception:  # noqa: BLE001
                pass
        self._drop()
        self._in_episode = False
        super().close()
