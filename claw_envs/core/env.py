"""ClawEnv: the Gymnasium base class every claw env derives from."""

from __future__ import annotations

import logging
import threading
import warnings
from typing import Any

import gymnasium as gym

from claw_envs.core.nextstate import NextState
from claw_envs.core.spaces import Chat, UnicodeText

logger = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def warn_deprecated(owner: str, old: str, new: str) -> None:
    """Say once per process (a ``DeprecationWarning`` and a logged warning) that ``old`` is now ``new``."""
    with _warned_lock:
        if (owner, old) in _warned:
            return
        _warned.add((owner, old))
    msg = f"{owner}: {old!r} is a deprecated name; use {new!r} (same meaning). The old name will be removed."
    warnings.warn(msg, DeprecationWarning, stacklevel=4)
    logger.warning(msg)


def renamed(owner: str, legacy: dict[str, Any], old: str, new: str, value: Any) -> Any:
    """The value of keyword ``new``, taking it from its deprecated name ``old`` in ``legacy`` (popped, with a
    warning once per process). Passing both with different values is a ``ConfigError``."""
    if old not in legacy:
        return value
    old_value = legacy.pop(old)
    warn_deprecated(owner, old, new)
    if value is not None and value != old_value:
        from claw_envs.core.errors import ConfigError

        raise ConfigError(f"{owner}: got both {new}={value!r} and its deprecated name {old}={old_value!r}; "
                          f"pass {new}= only")
    return old_value


class InfoWithOldKeys(dict):
    """A step's ``info`` that still carries deprecated keys: reading one (``[]`` or ``get``) warns once per
    process, naming the current key. ``OLD_KEYS`` maps old name -> current name (same value)."""

    OLD_KEYS = {"evaluation": "outcome"}

    def __getitem__(self, key: Any) -> Any:
        if key in self.OLD_KEYS:
            warn_deprecated("info", key, self.OLD_KEYS[key])
        return super().__getitem__(key)

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self.OLD_KEYS and key in self:
            warn_deprecated("info", key, self.OLD_KEYS[key])
        return super().get(key, default)


def no_unknown_kwargs(owner: str, legacy: dict[str, Any]) -> None:
    """A ``TypeError`` naming keywords left after the deprecated names were taken out."""
    if legacy:
        raise TypeError(f"{owner}() got unexpected keyword argument(s) {sorted(legacy)}; the common env "
                        "arguments are tasks=, task_ids=, max_steps=, action_timeout=, backend= (see the README)")


class ClawEnv(gym.Env[list, str]):
    """A multi-turn agent environment.

    Contract:

    * ``reset(seed=None, options={"task_id": ...}) -> (obs, info)``; ``info["task_id"]`` names the task.
    * ``step(action) -> (obs, reward, terminated, truncated, info)`` where ``action`` is the model's raw text
      (parsing is the env's job, never the caller's) and ``obs`` is the whole conversation so far as chat
      messages (the task first, then alternating assistant actions and the world's answers).
    * ``info["next_state"]`` on every step is a ``NextState``: what the world said right after the action.
    * ``reward`` is the *outcome* reward: 0 until the episode ends, then the task's score. Process rewards
      come from wrappers (``claw_envs.prm.PRMReward``), never from the env itself.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    kind: str = "terminal"

    def __init__(self, render_mode: str | None = None, max_action_length: int = 65536):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = UnicodeText(max_action_length)
        self.observation_space = Chat()
        self.messages: list[dict[str, Any]] = []

    def _observe(self) -> list[dict[str, Any]]:
        return [dict(m) for m in self.messages]

    @staticmethod
    def _info(next_state: NextState | None = None, **extra: Any) -> dict[str, Any]:
        info = dict(extra)
        if next_state is not None:
            info["next_state"] = next_state
        return info

    @staticmethod
    def _select_tasks(tasks: list[Any], task_ids: list[str] | None) -> tuple[list[Any], dict[str, Any]]:
        """(tasks kept, index by id): only ``task_ids`` when given (unknown ids are a TaskError); none is an error."""
        from claw_envs.core.errors import TaskError

        if task_ids is not None:
            known = {t.id for t in tasks}
            missing = [i for i in task_ids if i not in known]
            if missing:
                raise TaskError(f"unknown task ids {missing}; known: {sorted(known)}")
            tasks = [t for t in tasks if t.id in set(task_ids)]
        if not tasks:
            raise TaskError("no tasks to run")
        return tasks, {t.id: t for t in tasks}

    def _choose_task(self, options: dict[str, Any] | None, tasks: list[Any], by_id: dict[str, Any]) -> Any:
        """``options["task_id"]`` (an unknown id is a TaskError listing the known ones), else a task drawn with
        the episode's seeded RNG."""
        from claw_envs.core.errors import TaskError

        task_id = (options or {}).get("task_id")
        if task_id is not None:
            if task_id not in by_id:
                raise TaskError(f"unknown task_id {task_id!r}; known: {sorted(by_id)}")
            return by_id[task_id]
        return tasks[int(self.np_random.integers(len(tasks)))]

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        out = []
        for m in self.messages:
            out.append(f"── {m['role']} " + "─" * max(0, 60 - len(m["role"])))
            out.append(m["content"])
        return "\n".join(out)
