"""API keys and tenants for ``claw serve``.

With keys configured (``--api-keys-file FILE``, ``CLAW_API_KEYS`` or ``--api-key KEY``) every request needs
``Authorization: Bearer KEY`` or is answered 401. A keys file holds one key per line, ``KEY``, ``TENANT KEY``
or ``TENANT KEY +users`` (``#`` starts a comment). The tenant of a request is the key's tenant (a key without
one is named by a short hash of it — the key itself is never stored). Only a ``+users`` key may refine it
with the ``X-User`` header or the body's ``user`` field (``tenant/user``): ``X-User`` from any other key is
refused (403), a body ``user`` (which OpenAI clients send for their own bookkeeping) is ignored. Without keys
(a loopback-only server: one machine, one trust domain) the tenant is that user, or ``anonymous``. Sessions
are looked up within a tenant only, and every recorded turn carries its tenant.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.serving.errors import RequestError


class Auth:
    def __init__(self, keys: dict[str, str] | None = None, user_keys: set[str] | None = None):
        self.keys = dict(keys or {})  # key -> tenant
        self.user_keys = set(user_keys or ())  # keys allowed to name end users (X-User)

    @classmethod
    def from_options(cls, api_keys: list[str] | None = None, keys_file: str | Path | None = None) -> Auth:
        keys: dict[str, str] = {}
        user_keys: set[str] = set()
        for k in api_keys or []:
            if not k.strip():
                raise ConfigError("--api-key must not be empty")
            keys[k.strip()] = _anon_name(k.strip())
        if keys_file:
            path = Path(keys_file)
            if not path.is_file():
                raise ConfigError(f"--api-keys-file {path}: no such file (one 'KEY' or 'TENANT KEY' per line)")
            for n, line in enumerate(path.read_text().splitlines(), 1):
                parts = line.split("#", 1)[0].split()
                if not parts:
                    continue
                users = len(parts) == 3 and parts[2] == "+users"
                if len(parts) > 3 or (len(parts) == 3 and not users):
                    raise ConfigError(f"{path}:{n}: expected 'KEY', 'TENANT KEY' or 'TENANT KEY +users', "
                                      f"got {' '.join(parts[:1] + ['...'] + parts[2:])!r}")
                key = parts[1] if len(parts) >= 2 else parts[0]
                keys[key] = parts[0] if len(parts) >= 2 else _anon_name(parts[0])
                if users:
                    user_keys.add(key)
            if not keys:
                raise ConfigError(f"--api-keys-file {path} holds no keys")
        return cls(keys, user_keys)

    @property
    def enabled(self) -> bool:
        return bool(self.keys)

    def tenant(self, headers: Any, body: dict[str, Any] | None = None) -> str:
        """The request's tenant; raises a 401 RequestError without a valid key when keys are configured."""
        user = headers.get("x-user") or (body or {}).get("user")
        user = str(user).strip() if user else ""
        if not self.keys:
            return user or "anonymous"
        auth = headers.get("authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise RequestError(401, "You didn't provide an API key. Send 'Authorization: Bearer YOUR_KEY'.",
                               "invalid_api_key")
        token = token.strip()
        key = next((k for k in self.keys if hmac.compare_digest(k.encode(), token.encode())), None)
        if key is None:
            raise RequestError(401, "Incorrect API key provided.", "invalid_api_key")
        tenant = self.keys[key]
        if key not in self.user_keys:
            if headers.get("x-user"):
                raise RequestError(403, "This API key may not name end users (X-User): mark it '+users' in the "
                                   "keys file, or drop the header.", "x_user_not_allowed")
            return tenant
        return f"{tenant}/{user}" if user else tenant

    def authenticated(self, headers: Any) -> bool:
        """Whether ``headers`` carry a valid key (always True without keys)."""
        try:
            given = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
            self.tenant({"authorization": given})
            return True
        except RequestError:
            return False


def _anon_name(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]
