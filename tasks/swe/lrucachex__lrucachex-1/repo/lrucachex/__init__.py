"""lrucachex - a least-recently-used cache with TTL support.

>>> from lrucachex import LRUCache
>>> c = LRUCache(maxsize=2)
>>> c.set("a", 1); c.set("b", 2)
>>> c.get("a")
1
"""

from .cache import LRUCache
from .decorator import cached, make_key
from .stats import CacheInfo, CacheStats

__version__ = "1.0.0"

__all__ = ["LRUCache", "CacheInfo", "CacheStats", "cached", "make_key"]
