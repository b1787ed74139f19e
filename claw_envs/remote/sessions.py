"""Env sessions of an env server: one env per session, a capacity, an idle TTL.

Each session owns one env and one worker thread: the env's blocking calls (sandbox commands, tests) run
on that thread, one at a time, so the server's event loop stays free and envs never see two threads.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import itertools
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class CapacityError(Exception):
    """All ``max_sessions`` sessions are in use."""

    def __init__(self, active: int, max_sessions: int):
        super().__init__(f"the env server is at capacity ({active}/{max_sessions} sessions); close a session, "
                         "retry later, or start the server with a larger --max-sessions")
        self.active, self.max_sessions = active, max_sessions


@dataclass
class Session:
    """One client's env. ``busy`` is set while an env call runs (a busy session is never reaped as idle)."""

    id: str
    env: Any
    executor: cf.ThreadPoolExecutor
    created_at: float = field(default_factory=time.time)
    last_activity: float = field(default_factory=time.monotonic)
    step_count: int = 0
    episode_id: str | None = None
    task_id: str | None = None
    busy: bool = False
    on_expire: Callable[[], Any] | None = None  # async callback closing the client connection

    async def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on this session's thread; the activity clock restarts when it returns."""
        self.busy = True
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: fn(*args, **kwargs))
        finally:
            self.busy = False
            self.last_activity = time.monotonic()

    def state(self, env_id: str) -> dict[str, Any]:
        """OpenEnv's ``State`` fields (``episode_id``, ``step_count``) plus the env id and task id."""
        return {"episode_id": self.episode_id, "step_count": self.step_count, "env_id": env_id,
                "task_id": self.task_id, "session_id": self.id}


class SessionTable:
    """Creates sessions up to ``max_sessions``, closes them, and reaps those idle longer than ``idle_ttl``."""

    def __init__(self, make_env: Callable[[], Any], max_sessions: int = 8, idle_ttl: float | None = 600.0):
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self.make_env, self.max_sessions, self.idle_ttl = make_env, max_sessions, idle_ttl
        self.sessions: dict[str, Session] = {}
        self._reserved = 0
        self._seq = itertools.count()

    @property
    def active(self) -> int:
        return len(self.sessions) + self._reserved

    async def open(self) -> Session:
        """A new session with a fresh env; CapacityError when full; the env constructor's errors propagate."""
        if self.active >= self.max_sessions:
            raise CapacityError(self.active, self.max_sessions)
        self._reserved += 1  # hold the slot while the env is built off the event loop
        executor = cf.ThreadPoolExecutor(1, thread_name_prefix=f"claw-session-{next(self._seq)}")
        try:
            env = await asyncio.get_running_loop().run_in_executor(executor, self.make_env)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        finally:
            self._reserved -= 1
        s = Session(uuid.uuid4().hex, env, executor)
        self.sessions[s.id] = s
        return s

    async def close(self, s: Session) -> None:
        """Close the session's env (on its own thread, after any call in flight) and free the slot."""
        if self.sessions.pop(s.id, None) is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(s.executor, s.env.close)
        except Exception:  # noqa: BLE001 - a failing close must not keep the slot
            pass
        s.executor.shutdown(wait=False)

    def expired(self) -> list[Session]:
        if not self.idle_ttl:
            return []
        now = time.monotonic()
        return [s for s in self.sessions.values() if not s.busy and now - s.last_activity > self.idle_ttl]

    async def reap_forever(self) -> None:
        """Close idle sessions (their client connection first, via ``on_expire``) until cancelled."""
        if not self.idle_ttl:
            return
        period = max(0.05, min(self.idle_ttl / 4, 5.0))
        while True:
            await asyncio.sleep(period)
            for s in self.expired():
                if s.on_expire is not None:
                    try:
                        await s.on_expire()
                    except Exception:  # noqa: BLE001
                        pass
                await self.close(s)

    async def close_all(self) -> None:
        for s in list(self.sessions.values()):
            await self.close(s)
