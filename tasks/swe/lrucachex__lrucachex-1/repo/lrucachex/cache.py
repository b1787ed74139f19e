"""The LRU cache itself."""

import time
from collections import OrderedDict

from .stats import CacheStats

__all__ = ["LRUCache"]

_MISSING = object()


class _Entry:
    __slots__ = ("value", "expires_at")

    def __init__(self, value, expires_at):
        self.value = value
        self.expires_at = expires_at


class LRUCache:
    """A mapping-like cache that holds at most *maxsize* items.

    When the cache is full, inserting a new key evicts the *least recently
    used* entry. Both reading a key (:meth:`get`, ``cache[key]``) and writing
    it (:meth:`set`) count as a use. :meth:`peek` and ``key in cache`` look at
    an entry without changing its position.

    maxsize
        Maximum number of entries; ``None`` means unbounded and ``0`` means
        nothing is ever stored.
    ttl
        Default time-to-live in seconds for new entries, or ``None`` for
        entries that never expire. :meth:`set` can override it per key.
    clock
        Zero-argument callable returning the current time in seconds; handy
        for tests. Defaults to :func:`time.monotonic`.
    on_evict
        Optional ``callback(key, value)`` called whenever an entry is evicted
        to make room (not when it expires or is deleted explicitly).
    """

    def __init__(self, maxsize=128, ttl=None, clock=None, on_evict=None):
        if maxsize is not None and maxsize < 0:
            raise ValueError("maxsize must be >= 0 or None")
        if ttl is not None and ttl <= 0:
            raise ValueError("ttl must be > 0 or None")
        self._maxsize = maxsize
        self._ttl = ttl
        self._clock = clock or time.monotonic
        self._on_evict = on_evict
        self._data = OrderedDict()  # least recently used first
        self.stats = CacheStats()

    # -- internals -------------------------------------------------------

    def _expired(self, entry, now=None):
        if entry.expires_at is None:
            return False
        if now is None:
            now = self._clock()
        return now >= entry.expires_at

    def _find(self, key):
        """Return the live entry for *key* or ``None``; drops it if expired."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if self._expired(entry):
            del self._data[key]
            self.stats.expirations += 1
            return None
        return entry

    def _evict_overflow(self):
        if self._maxsize is None:
            return
        while len(self._data) > self._maxsize:
            key, entry = self._data.popitem(last=False)
            self.stats.evictions += 1
            if self._on_evict is not None:
                self._on_evict(key, entry.value)

    # -- reading ---------------------------------------------------------

    def get(self, key, default=None):
        """Return the value for *key*, or *default* if absent or expired.

        A hit marks *key* as the most recently used entry.
        """
        entry = self._find(key)
        if entry is None:
            self.stats.misses += 1
            return default
        self.stats.hits += 1
        return entry.value

    def peek(self, key, default=None):
        """Like :meth:`get` but without touching recency or statistics."""
        entry = self._data.get(key)
        if entry is None or self._expired(entry):
            return default
        return entry.value

    def __getitem__(self, key):
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key):
        entry = self._data.get(key)
        return entry is not None and not self._expired(entry)

    # -- writing ---------------------------------------------------------

    def set(self, key, value, ttl=_MISSING):
        """Store *value* under *key*, making it the most recently used entry.

        *ttl* overrides the cache-wide default for this entry; pass ``None``
        for an entry that never expires.
        """
        if self._maxsize == 0:
            return
        if ttl is _MISSING:
            ttl = self._ttl
        elif ttl is not None and ttl <= 0:
            raise ValueError("ttl must be > 0 or None")
        expires_at = None if ttl is None else self._clock() + ttl
        if key in self._data:
            entry = self._data[key]
            entry.value = value
            entry.expires_at = expires_at
            self._data.move_to_end(key)
        else:
            self._data[key] = _Entry(value, expires_at)
            self._evict_overflow()

    def __setitem__(self, key, value):
        self.set(key, value)

    def setdefault(self, key, default=None):
        """Return the cached value for *key*, storing *default* if missing."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            self.set(key, default)
            return default
        return value

    def delete(self, key):
        """Remove *key*; return True if it was present (and not expired)."""
        entry = self._data.pop(key, None)
        return entry is not None and not self._expired(entry)

    def __delitem__(self, key):
        if not self.delete(key):
            raise KeyError(key)

    def pop(self, key, default=_MISSING):
        entry = self._data.pop(key, None)
        if entry is None or self._expired(entry):
            if default is _MISSING:
                raise KeyError(key)
            return default
        return entry.value

    def clear(self):
        """Remove every entry (statistics are kept)."""
        self._data.clear()

    # -- maintenance -----------------------------------------------------

    def expire(self):
        """Drop all expired entries now; return how many were removed."""
        now = self._clock()
        dead = [k for k, e in self._data.items() if self._expired(e, now)]
        for key in dead:
            del self._data[key]
        self.stats.expirations += len(dead)
        return len(dead)

    def resize(self, maxsize):
        """Change the capacity, evicting least recently used entries if needed."""
        if maxsize is not None and maxsize < 0:
            raise ValueError("maxsize must be >= 0 or None")
        self._maxsize = maxsize
        self._evict_overflow()

    @property
    def maxsize(self):
        return self._maxsize

    def __len__(self):
        now = self._clock()
        return sum(1 for e in self._data.values() if not self._expired(e, now))

    def keys(self):
        """Live keys, least recently used first."""
        now = self._clock()
        return [k for k, e in self._data.items() if not self._expired(e, now)]

    def items(self):
        now = self._clock()
        return [(k, e.value) for k, e in self._data.items()
                if not self._expired(e, now)]

    def __iter__(self):
        return iter(self.keys())

    def __repr__(self):
        return "LRUCache(maxsize=%r, currsize=%d)" % (self._maxsize, len(self))
