"""Liveness of background loops: each loop runs under a guard that records its errors and its death.

``LoopHealth.run(name, body)`` runs ``body()`` until it returns (a clean stop). An exception escaping the
body (a loop-level failure, e.g. the store went away) marks the loop dead with its traceback's last line;
per-item failures are reported with :meth:`LoopHealth.error` by the loop itself, which goes on.
:meth:`snapshot` is what ``/health`` shows; :meth:`raise_if_dead` lets a driver (``claw train --async``)
fail loudly instead of waiting forever.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from claw_envs.core.errors import ClawError

log = logging.getLogger(__name__)


class LoopDied(ClawError):
    """A background loop of ``claw serve --learn`` or ``claw train --async`` stopped on an error."""


@dataclass
class LoopState:
    alive: bool = False
    started: float | None = None
    beat: float | None = None
    errors: int = 0
    last_error: str | None = None
    died: str | None = None
    depth: Callable[[], int] | None = field(default=None, repr=False)


class LoopHealth:
    def __init__(self) -> None:
        self.loops: dict[str, LoopState] = {}
        self._lock = threading.Lock()

    def register(self, name: str, depth: Callable[[], int] | None = None) -> None:
        self.loops.setdefault(name, LoopState(depth=depth))

    def beat(self, name: str) -> None:
        self.loops[name].beat = time.time()

    def error(self, name: str, what: str, e: BaseException) -> None:
        """A per-item failure: counted and shown, the loop goes on."""
        st = self.loops.setdefault(name, LoopState())
        with self._lock:
            st.errors += 1
            st.last_error = f"{what}: {type(e).__name__}: {e}"
        log.warning("claw %s loop: %s", name, st.last_error)

    def run(self, name: str, body: Callable[[], None]) -> None:
        st = self.loops.setdefault(name, LoopState())
        st.alive, st.started = True, time.time()
        try:
            body()
        except BaseException as e:  # noqa: BLE001 - recorded, shown in /health, raised by raise_if_dead
            st.died = f"{type(e).__name__}: {e}"
            st.last_error = st.died
            log.exception("claw %s loop died", name)
        finally:
            st.alive = False

    def snapshot(self) -> dict[str, Any]:
        out = {}
        for name, st in self.loops.items():
            out[name] = {"alive": st.alive and st.died is None, "errors": st.errors, "last_error": st.last_error,
                         "died": st.died, "last_beat_s_ago": round(time.time() - st.beat, 3) if st.beat else None}
            if st.depth is not None:
                out[name]["queue_depth"] = st.depth()
        return out

    def raise_if_dead(self) -> None:
        dead = {n: st.died for n, st in self.loops.items() if st.died}
        if dead:
            raise LoopDied("background loop(s) died: " + "; ".join(f"{n}: {d}" for n, d in dead.items())
                           + " — see the log above; fix the cause and restart (the turn store resumes)")
