"""A memoizing decorator built on :class:`LRUCache`."""

import functools

from .cache import LRUCache
from .stats import CacheInfo

__all__ = ["cached", "make_key"]

_MISSING = object()
_KWD_MARK = object()


class _HashedKey(list):
    """A list that caches its hash; arguments are hashed only once."""

    __slots__ = ("_hash",)

    def __init__(self, items):
        super().__init__(items)
        self._hash = hash(tuple(items))

    def __hash__(self):
        return self._hash


def make_key(args, kwargs, typed=False):
    """Build a hashable cache key from call arguments.

    Keyword argument order does not matter. With *typed*, arguments of
    different types (``1`` and ``1.0``) produce different keys.
    """
    key = list(args)
    if kwargs:
        key.append(_KWD_MARK)
        for name in sorted(kwargs):
            key.append(name)
            key.append(kwargs[name])
    if typed:
        key.extend(type(a) for a in args)
        if kwargs:
            key.extend(type(kwargs[name]) for name in sorted(kwargs))
    return _HashedKey(key)


def cached(maxsize=128, ttl=None, typed=False, key=None, clock=None):
    """Decorator memoizing a function's results in an :class:`LRUCache`.

    *key*, if given, is a callable receiving the call's ``*args, **kwargs``
    and returning the cache key to use instead of :func:`make_key`.

    The wrapped function gains ``cache`` (the underlying LRUCache),
    ``cache_info()`` and ``cache_clear()``.

    Can be used bare (``@cached``) or with arguments (``@cached(maxsize=32)``).
    """
    if callable(maxsize):
        # Used as @cached without parentheses.
        return cached()(maxsize)

    def decorator(func):
        cache = LRUCache(maxsize=maxsize, ttl=ttl, clock=clock)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            k = key(*args, **kwargs) if key is not None else make_key(args, kwargs, typed)
            value = cache.get(k, _MISSING)
            if value is _MISSING:
                value = func(*args, **kwargs)
                cache.set(k, value)
            return value

        def cache_info():
            return CacheInfo(cache.stats.hits, cache.stats.misses,
                             cache.maxsize, len(cache))

        def cache_clear():
            cache.clear()
            cache.stats.reset()

        wrapper.cache = cache
        wrapper.cache_info = cache_info
        wrapper.cache_clear = cache_clear
        return wrapper

    return decorator
