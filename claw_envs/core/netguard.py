"""Safe defaults for the HTTP listeners claw-gym starts (``claw view``, and any server that opts in).

* :func:`check_bind` refuses a non-loopback bind without authentication unless ``insecure`` is set (then it
  logs a loud warning): a port reachable from other machines must never feed or leak a run by default.
* :func:`host_allowed` / :func:`origin_allowed` implement the Host / Origin allow-lists that stop DNS
  rebinding and cross-site WebSockets: a browser page on another site can make the victim's browser connect
  to 127.0.0.1, but it cannot make the request carry ``Host: 127.0.0.1`` or ``Origin: http://127.0.0.1``.
* :func:`redact` replaces the values of secret-looking keys (tokens, keys, passwords) in a JSON-like tree,
  for anything written to a run folder or served.
* :func:`read_secret` takes a secret from an environment variable or a file, never only from argv (visible
  in ``ps``).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from claw_envs.core.errors import ConfigError

log = logging.getLogger(__name__)
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
REDACTED = "***redacted***"
_SECRET_KEY = re.compile(r"(token|secret|passw(or)?d|api[_-]?key|apikey|credential|private[_-]?key)$|^key$",
                         re.I)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    h = host.strip().strip("[]").lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def check_bind(host: str, authenticated: bool, insecure: bool = False, what: str = "this server") -> None:
    """Refuse (``ConfigError``) to bind ``host`` beyond loopback without authentication, unless ``insecure``."""
    if is_loopback(host) or authenticated:
        return
    if not insecure:
        raise ConfigError(f"{what} would listen on {host} with no authentication: anyone who reaches the port "
                          "could use it. Bind 127.0.0.1, or set a token/key (from an environment variable or "
                          "a file), or pass --insecure if the network is trusted.")
    log.warning("INSECURE: %s listens on %s with no authentication (--insecure)", what, host)


def _hostname(value: str) -> str:
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8080
        return value[1:value.index("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def allowed_hosts(bind_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The Host names a listener bound on ``bind_host`` answers to: loopback names, the bind address itself
    (unless it is a wildcard) and ``extra`` (e.g. the machine's public name when exposed on purpose)."""
    names = set(LOOPBACK_NAMES) | {_hostname(h) for h in extra}
    if bind_host not in ("0.0.0.0", "::", ""):
        names.add(_hostname(bind_host) if not bind_host.count(":") > 1 else bind_host.lower())
    return frozenset(names)


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """Whether an HTTP ``Host`` header names this server (a missing header, HTTP/1.0, is refused)."""
    return bool(header) and _hostname(header) in allowed


def origin_allowed(origin: str | None, allowed: frozenset[str]) -> bool:
    """Whether a WebSocket/CORS ``Origin`` is acceptable: absent (not a browser) or on an allowed host."""
    if origin is None:
        return True
    host = urlparse(origin).hostname
    return host is not None and host.lower() in allowed


def redact(obj: Any) -> Any:
    """A copy of ``obj`` with the values of secret-looking keys replaced by ``REDACTED`` (empty values kept)."""
    if isinstance(obj, dict):
        return {k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "", [], {})
                    else redact(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact(v) for v in obj]
    return obj


def read_secret(env_var: str | None = None, file: str | None = None) -> str | None:
    """A secret from ``file`` (first line, must not be readable by others) or the environment variable."""
    if file:
        try:
            st = os.stat(file)
            text = open(file, encoding="utf-8").read().strip()
        except OSError as e:
            raise ConfigError(f"cannot read the secret file {file}: {e.strerror}") from e
        if st.st_mode & 0o077:
            raise ConfigError(f"the secret file {file} is readable by others (mode {oct(st.st_mode & 0o777)}): "
                              f"chmod 600 {file}")
        if not text:
            raise ConfigError(f"the secret file {file} is empty")
        return text.splitlines()[0]
    if env_var:
        return os.environ.get(env_var) or None
    return None


class HostGuard:
    """ASGI middleware: HTTP requests and WebSockets whose ``Host`` is not in ``allowed`` (DNS rebinding), or
    that carry an ``Origin`` from another site (a page in the user's browser posting to a local server), are
    refused with 403 before the app sees them. ``check_host=False`` (a wildcard bind with authentication,
    where clients use names we cannot list) keeps the Origin check only."""

    def __init__(self, app: Any, allowed: frozenset[str], check_host: bool = True):
        self.app, self.allowed, self.check_host = app, allowed, check_host

    def _refusal(self, scope: dict[str, Any]) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if self.check_host and not host_allowed(headers.get("host"), self.allowed):
            return f"Host {headers.get('host')!r} is not this server"
        if not origin_allowed(headers.get("origin"), self.allowed):
            return f"Origin {headers.get('origin')!r} is not allowed"
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        why = self._refusal(scope) if scope["type"] in ("http", "websocket") else None
        if why is None:
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": why})  # answered 403 by the server
            return
        body = json.dumps({"error": {"message": why, "type": "forbidden", "code": "forbidden_host"}}).encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def guard_app(app: Any, bind_host: str, authenticated: bool, insecure: bool = False,
              extra_hosts: Iterable[str] = ()) -> Any:
    """``app`` in a :class:`HostGuard` for a listener on ``bind_host`` (call :func:`check_bind` first)."""
    wildcard = bind_host in ("0.0.0.0", "::", "")
    return HostGuard(app, allowed_hosts(bind_host, extra_hosts),
                     check_host=not (wildcard and (authenticated or insecure)))
