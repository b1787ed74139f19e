"""Counters describing how a cache has been used."""

from collections import namedtuple

__all__ = ["CacheInfo", "CacheStats"]

#: Snapshot compatible with :func:`functools.lru_cache`'s ``cache_info()``.
CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])


class CacheStats:
    """Mutable hit / miss / eviction counters for one cache."""

    __slots__ = ("hits", "misses", "evictions", "expirations")

    def __init__(self):
        self.reset()

    def reset(self):
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.expirations = 0

    @property
    def lookups(self):
        return self.hits + self.misses

    @property
    def hit_ratio(self):
        """Fraction of lookups that were hits (0.0 when nothing was looked up)."""
        total = self.lookups
        return self.hits / total if total else 0.0

    def as_dict(self):
        return {
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "expirations": self.expirations,
            "hit_ratio": self.hit_ratio,
        }

    def __repr__(self):
        return ("CacheStats(hits=%d, misses=%d, evictions=%d, expirations=%d)"
                % (self.hits, self.misses, self.evictions, self.expirations))
