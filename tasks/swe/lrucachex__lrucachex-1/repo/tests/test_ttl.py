from lrucachex import LRUCache


def test_entries_expire(clock):
    c = LRUCache(ttl=10, clock=clock)
    c.set("a", 1)
    clock.advance(9.5)
    assert c.get("a") == 1
    clock.advance(1)
    assert c.get("a") is None
    assert c.stats.expirations == 1


def test_per_key_ttl_override(clock):
    c = LRUCache(ttl=10, clock=clock)
    c.set("short", 1, ttl=1)
    c.set("forever", 2, ttl=None)
    clock.advance(100)
    assert "short" not in c
    assert c.get("forever") == 2


def test_expired_entries_not_counted(clock):
    c = LRUCache(ttl=5, clock=clock)
    c.set("a", 1)
    clock.advance(3)
    c.set("b", 2)
    clock.advance(3)
    assert len(c) == 1
    assert c.keys() == ["b"]
    assert c.peek("a") is None


def test_expire_purges(clock):
    c = LRUCache(ttl=5, clock=clock)
    for k in "abc":
        c.set(k, k)
    clock.advance(6)
    c.set("d", "d")
    assert c.expire() == 3
    assert c.keys() == ["d"]


def test_overwrite_resets_ttl(clock):
    c = LRUCache(ttl=5, clock=clock)
    c.set("a", 1)
    clock.advance(4)
    c.set("a", 2)
    clock.advance(4)
    assert c.get("a") == 2
