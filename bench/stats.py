"""Timing and memory helpers shared by the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable


def pct(xs: list[float], p: float) -> float:
    """The p-th percentile of ``xs`` (seconds), in milliseconds (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    """Wall-clock seconds of ``n`` calls of ``fn``."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def rss_kb() -> int:
    """Resident memory of this process now, in kB (``VmRSS`` of /proc/self/status; 0 where there is none)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0
