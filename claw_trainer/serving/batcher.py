"""Batch concurrent generation requests: one worker thread runs whatever has queued up as one batch.

``submit(key, item)`` returns a future. The worker takes the oldest waiting item, waits up to ``max_wait``
seconds for more, then runs up to ``max_batch`` items that share its ``key`` (requests that can be sampled
in one ``generate`` call: same max tokens, temperature, top-p) with ``run(items) -> results``. More than
``max_pending`` waiting items is back-pressure: ``submit`` raises a 429
:class:`~claw_trainer.serving.errors.RequestError` instead of queueing without bound.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import Any

from claw_trainer.serving.errors import RequestError


class Batcher:
    def __init__(self, run: Callable[[list[Any]], list[Any]], max_batch: int = 8, max_wait: float = 0.005,
                 max_pending: int = 64, name: str = "claw-batcher"):
        self.run, self.max_batch, self.max_wait, self.max_pending = run, max_batch, max_wait, max_pending
        self._items: list[tuple[Hashable, Any, Future]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self.batches = 0
        self.largest = 0
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return len(self._items)

    def submit(self, key: Hashable, item: Any) -> Future:
        fut: Future = Future()
        with self._cv:
            if self._stopped:
                raise RequestError(503, "the server is shutting down", "server_shutting_down")
            if len(self._items) >= self.max_pending:
                raise RequestError(429, f"{len(self._items)} requests are already waiting for the model; retry "
                                   "shortly", "rate_limit_exceeded")
            self._items.append((key, item, fut))
            self._cv.notify()
        return fut

    def _take(self) -> list[tuple[Hashable, Any, Future]]:
        with self._cv:
            while not self._items and not self._stopped:
                self._cv.wait(0.5)
            if not self._items:
                return []
        deadline = time.monotonic() + self.max_wait
        with self._cv:
            while len(self._items) < self.max_batch and not self._stopped:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cv.wait(left)
            key = self._items[0][0]
            batch = [x for x in self._items if x[0] == key][:self.max_batch]
            taken = {id(x) for x in batch}
            self._items = [x for x in self._items if id(x) not in taken]
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                if self._stopped:
                    return
                continue
            self.batches += 1
            self.largest = max(self.largest, len(batch))
            try:
                results = self.run([item for _, item, _ in batch])
                for (_, _, fut), res in zip(batch, results, strict=True):
                    fut.set_result(res)
            except BaseException as e:  # noqa: BLE001 - every waiting request gets the error, the worker goes on
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            for _, _, fut in self._items:
                fut.set_exception(RequestError(503, "the server is shutting down", "server_shutting_down"))
            self._items = []
            self._cv.notify_all()
        self._thread.join(timeout=30)
