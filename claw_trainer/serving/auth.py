"""API keys and tenants for ``claw serve``.

With keys configured (``--api-key KEY``, repeatable, and/or ``--api-keys-file FILE``) every request needs
``Authorization: Bearer KEY`` or is answered 401. A keys file holds one key per line, ``KEY`` or
``TENANT KEY`` (``#`` starts a comment). The tenant of a request is the key's tenant (a key without one is
named by a short hash of it — the key itself is never stored), refined by the ``X-User`` header or the body's
``user`` field (``tenant/user``); without keys it is that user, or ``anonymous``. Sessions are looked up
within a tenant only, and every recorded turn carries its tenant.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from claw_envs.core.errors import ConfigError
from claw_trainer.serving.errors import RequestError


class Auth:
    def __init__(self, keys: dict[str, str] | None = None):
        self.keys = dict(keys or {})  # key -> tenant

    @classmethod
    def from_options(cls, api_keys: list[str] | None = None, keys_file: str | Path | None = None) -> Auth:
        keys: dict[str, str] = {}
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
                if len(parts) > 2:
                    raise ConfigError(f"{path}:{n}: expected 'KEY' or 'TENANT KEY', got {len(parts)} fields")
                keys[parts[-1]] = parts[0] if len(parts) == 2 else _anon_name(parts[0])
            if not keys:
                raise ConfigError(f"--api-keys-file {path} holds no keys")
        return cls(keys)

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
        tenant = next((t for k, t in self.keys.items() if hmac.compare_digest(k.encode(), token.encode())), None)
        if tenant is None:
            raise RequestError(401, "Incorrect API key provided.", "invalid_api_key")
        return f"{tenant}/{user}" if user else tenant


def _anon_name(key: str) -> str:
    return "key-" + hashlib.sha256(key.encode()).hexdigest()[:8]
