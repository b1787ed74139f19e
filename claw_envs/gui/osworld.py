"""OSWorld compatibility facts shared by the set-up steps and the getters.

* ``Placeholders``: the values OSWorld's set-up controller substitutes into task commands —
  ``{CLIENT_PASSWORD}``, ``{SCREEN_WIDTH}``, ``{SCREEN_HEIGHT}``, ``{SCREEN_WIDTH_HALF}``,
  ``{SCREEN_HEIGHT_HALF}`` — applied to strings, lists and dicts (recursively); unknown ``{...}`` text is
  left alone (Python code in commands has braces too).
* ``Unsupported``: a ``TaskError`` raised when a task uses a set-up step type, getter or metric this
  environment does not offer; ``kind`` (``step``/``getter``/``metric``) and ``name`` say which.
* ``DownloadNeeded``: a ``TaskError`` raised when a task's ``download`` file is neither cached nor
  fetchable; it names the URL and the exact cache path to put the file at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claw_envs.core.errors import TaskError

CLIENT_PASSWORD = "password"  # the password of OSWorld's VM user ("user"), also accepted by the desktop's sudo


class Unsupported(TaskError):
    """A task needs a set-up step type, getter or metric that is not available here."""

    def __init__(self, message: str, kind: str, name: str):
        super().__init__(message)
        self.kind, self.name = kind, name


class DownloadNeeded(TaskError):
    """A file a task downloads is not in the cache and could not be fetched."""

    def __init__(self, message: str, url: str, cache_path: str):
        super().__init__(message)
        self.url, self.cache_path = url, cache_path


@dataclass(frozen=True)
class Placeholders:
    """OSWorld's placeholder values for one desktop."""

    width: int = 1280
    height: int = 720
    client_password: str = CLIENT_PASSWORD

    def table(self) -> dict[str, str]:
        return {"{CLIENT_PASSWORD}": self.client_password, "{SCREEN_WIDTH}": str(self.width),
                "{SCREEN_HEIGHT}": str(self.height), "{SCREEN_WIDTH_HALF}": str(self.width // 2),
                "{SCREEN_HEIGHT_HALF}": str(self.height // 2)}

    def apply(self, value: Any) -> Any:
        """``value`` with every placeholder replaced (strings inside lists/dicts too)."""
        if isinstance(value, str):
            for k, v in self.table().items():
                value = value.replace(k, v)
            return value
        if isinstance(value, list):
            return [self.apply(v) for v in value]
        if isinstance(value, dict):
            return {k: self.apply(v) for k, v in value.items()}
        return value
