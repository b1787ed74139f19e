from lrucachex import CacheStats, LRUCache


def test_hit_miss_counters():
    c = LRUCache()
    c.set("a", 1)
    c.get("a")
    c.get("a")
    c.get("b")
    assert c.stats.hits == 2
    assert c.stats.misses == 1
    assert c.stats.hit_ratio == 2 / 3


def test_empty_ratio_and_reset():
    s = CacheStats()
    assert s.hit_ratio == 0.0
    s.hits = 3
    s.reset()
    assert s.as_dict()["hits"] == 0
    assert "hits=0" in repr(s)
