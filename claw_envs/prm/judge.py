"""The judge (PRM): ``Judge.score(turn) -> Judgement`` from m votes of a backend, aggregated.

Votes run concurrently (bounded by ``max_concurrency`` across all turns), each with a timeout and retries.
Timeouts, HTTP errors, backend exceptions and unparsable replies become invalid votes and counters in
``Judge.stats``: ``score`` never raises for them. Results are cached by content (mode, backend, prompt).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from claw_envs.core.errors import JudgeError
from claw_envs.core.nextstate import NextState
from claw_envs.prm.prompts import MODES, build_messages, majority, mean, parse_hint, parse_vote, select_hint


@dataclass(frozen=True)
class Turn:
    """One agent turn to judge: the action and the world's answer to it."""

    action: str
    next_text: str
    next_role: str = "environment"
    task: str | None = None
    history: tuple[dict[str, Any], ...] = ()
    step: int = 0
    kind: str = "chat"

    @classmethod
    def from_next_state(cls, action: str, ns: NextState, **kw: Any) -> Turn:
        return cls(action=action, next_text=ns.text, next_role=ns.role, kind=ns.kind, **kw)


@dataclass(frozen=True)
class Judgement:
    """``score``: the aggregated vote; ``votes``: each vote (None = invalid); ``hint``: for OPD, or None."""

    score: float
    votes: tuple[int | None, ...]
    hint: str | None = None
    raw: tuple[str | None, ...] = ()
    latency: float = 0.0
    cached: bool = False
    error: str | None = None  # set when no vote came back at all (every call failed): the judge was not heard

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def invalid(self) -> int:
        return sum(v is None for v in self.votes)


class Backend(Protocol):
    name: str

    async def complete(self, messages: list[dict[str, str]], *, turn: Turn, mode: str, temperature: float,
                       max_tokens: int) -> str: ...


@dataclass
class JudgeStats:
    turns: int = 0
    calls: int = 0
    invalid: int = 0
    timeouts: int = 0
    errors: int = 0
    retries: int = 0
    cache_hits: int = 0
    last_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Judge:
    """A PRM judge over any backend.

    Args:
        backend: ``RuleBackend()``, ``OpenAIBackend(url, model)``, ``TransformersBackend(model)`` or your own.
        mode: ``binary`` (majority of {-1, 0, 1}), ``step`` (mean of {-1, 1}) or ``hint`` (+1 with a hint).
        m: votes per turn. aggregation: ``majority`` or ``mean`` (default by mode).
        timeout: seconds per vote; retries: extra attempts after an error or timeout (not after garbage).
        batch_votes: one request with ``n=m`` instead of m requests (servers that batch samples answer faster).
    """

    backend: Any
    mode: str = "binary"
    m: int = 3
    aggregation: str | None = None
    temperature: float = 0.7
    max_tokens: int = 256
    timeout: float = 60.0
    retries: int = 1
    max_concurrency: int = 8
    cache_size: int = 4096
    batch_votes: bool = False  # ask the backend for m samples in one request (OpenAI ``n``), when it can
    stats: JudgeStats = field(default_factory=JudgeStats)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise JudgeError(f"judge mode must be one of {MODES}, got {self.mode!r}")
        self.aggregation = self.aggregation or ("mean" if self.mode == "step" else "majority")
        if self.aggregation not in ("majority", "mean"):
            raise JudgeError(f"aggregation must be 'majority' or 'mean', got {self.aggregation!r}")
        if self.m < 1:
            raise JudgeError(f"m (votes per turn) must be >= 1, got {self.m}")
        if self.backend is None or not hasattr(self.backend, "complete"):
            raise JudgeError(f"Judge needs a backend with a complete() method, got {self.backend!r}: use "
                             "RuleBackend(), OpenAIBackend(url, model), TransformersBackend(model) or make_backend(spec)")
        self._cache: OrderedDict[str, Judgement] = OrderedDict()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem: asyncio.Semaphore | None = None

    def check(self, timeout: float = 10.0) -> None:
        """Raise ``JudgeError`` (saying what to do) when the backend cannot be reached; backends without a
        ``check`` method (rules, local models, your own) are taken as reachable. Checked once per judge."""
        if getattr(self, "_checked", False):
            return
        check = getattr(self.backend, "check", None)
        if check is not None:
            check(timeout)
        self._checked = True

    def __deepcopy__(self, memo: dict) -> Judge:
        """A judge is a shared service (connections, cache, event loop): copies refer to the same judge."""
        return self

    # -- async API ---------------------------------------------------------------------------------
    async def ascore(self, turn: Turn) -> Judgement:
        messages = build_messages(self.mode, turn.action, turn.next_role, turn.next_text, turn.task,
                                  list(turn.history), turn.step)
        key = hashlib.sha256(json.dumps([self.mode, self.m, self.aggregation, getattr(self.backend, "name", ""),
                                         messages], sort_keys=True).encode()).hexdigest()
        with self._lock:
            self.stats.turns += 1
            if key in self._cache:
                self.stats.cache_hits += 1
                self._cache.move_to_end(key)
                hit = self._cache[key]  # same judgement, same latency as when it was computed
                return Judgement(hit.score, hit.votes, hit.hint, hit.raw, hit.latency, cached=True)
        t0 = time.monotonic()
        if self.batch_votes and self.m > 1 and hasattr(self.backend, "complete_n"):
            raws = await self._vote(messages, turn, n=self.m)  # one request, m samples
        else:
            raws = await asyncio.gather(*(self._vote(messages, turn) for _ in range(self.m)))
        votes = [parse_vote(self.mode, r) for r in raws]
        self._count("invalid", n=sum(v is None for v in votes))
        agg = majority if self.aggregation == "majority" else mean
        hint = select_hint(votes, [parse_hint(r) for r in raws]) if self.mode == "hint" else None
        failed = all(r is None for r in raws)  # every call errored or timed out (garbage replies are strings)
        j = Judgement(score=agg(votes), votes=tuple(votes), hint=hint, raw=tuple(raws),
                      latency=time.monotonic() - t0,
                      error=(self.stats.last_error or "no reply") if failed else None)
        if failed:
            return j  # never cached: the next turn asks again
        with self._lock:
            self._cache[key] = j
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return j

    def _count(self, counter: str, error: str | None = None, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + n)
            if error is not None:
                self.stats.last_error = error

    async def _vote(self, messages: list[dict[str, str]], turn: Turn, n: int | None = None) -> Any:
        """One vote (a reply or None), or with ``n`` a list of n replies from one request."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.max_concurrency)
        opts = {"turn": turn, "mode": self.mode, "temperature": self.temperature, "max_tokens": self.max_tokens}
        for attempt in range(self.retries + 1):
            async with self._sem:
                try:
                    self._count("calls")
                    call = self.backend.complete_n(messages, n=n, **opts) if n else \
                        self.backend.complete(messages, **opts)
                    out = await asyncio.wait_for(call, self.timeout)
                    if n and (not isinstance(out, list) or len(out) != n):
                        raise ValueError(f"expected {n} replies, got {out!r:.80}")
                    return out
                except TimeoutError:
                    self._count("timeouts", f"timed out after {self.timeout:g} s")
                except Exception as e:  # noqa: BLE001 - a judge never crashes the env or the run
                    self._count("errors", f"{type(e).__name__}: {e}"[:500])
            if attempt < self.retries:
                self._count("retries")
                await asyncio.sleep(0.05 * (2 ** attempt))
        return [None] * n if n else None

    # -- sync API (usable from any thread, e.g. vector-env workers) ----------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="claw-judge", daemon=True).start()
            return self._loop

    def submit(self, turn: Turn) -> Future:
        """Start judging ``turn`` in the background; returns a concurrent Future of the Judgement."""
        return asyncio.run_coroutine_threadsafe(self.ascore(turn), self._ensure_loop())

    def score(self, turn: Turn) -> Judgement:
        """Judge ``turn`` and wait for the result (never raises for backend failures)."""
        return self.submit(turn).result()

    def close(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            loop = self._loop
            close = getattr(self.backend, "aclose", None)
            if close is not None:
                asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            self._loop = None
