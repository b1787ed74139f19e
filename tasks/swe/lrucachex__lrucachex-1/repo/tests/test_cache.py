import pytest

from lrucachex import LRUCache


def test_set_and_get():
    c = LRUCache(maxsize=3)
    c.set("a", 1)
    c["b"] = 2
    assert c.get("a") == 1
    assert c["b"] == 2
    assert c.get("zzz") is None
    assert c.get("zzz", 42) == 42


def test_getitem_missing_raises():
    c = LRUCache()
    with pytest.raises(KeyError):
        c["nope"]


def test_invalid_arguments():
    with pytest.raises(ValueError):
        LRUCache(maxsize=-1)
    with pytest.raises(ValueError):
        LRUCache(ttl=0)
    with pytest.raises(ValueError):
        LRUCache().set("a", 1, ttl=-5)


def test_oldest_insert_is_evicted():
    c = LRUCache(maxsize=2)
    c.set("a", 1)
    c.set("b", 2)
    c.set("c", 3)
    assert "a" not in c
    assert c.keys() == ["b", "c"]
    assert c.stats.evictions == 1


def test_overwrite_refreshes_recency():
    c = LRUCache(maxsize=2)
    c.set("a", 1)
    c.set("b", 2)
    c.set("a", 10)
    c.set("c", 3)
    assert c.keys() == ["a", "c"]
    assert c.peek("a") == 10


def test_peek_and_contains_do_not_refresh():
    c = LRUCache(maxsize=2)
    c.set("a", 1)
    c.set("b", 2)
    assert c.peek("a") == 1
    assert "a" in c
    c.set("c", 3)
    assert c.keys() == ["b", "c"]
    assert c.stats.lookups == 0


def test_unbounded_and_zero_size():
    big = LRUCache(maxsize=None)
    for i in range(500):
        big.set(i, i)
    assert len(big) == 500
    none = LRUCache(maxsize=0)
    none.set("a", 1)
    assert len(none) == 0
    assert none.get("a") is None


def test_on_evict_callback():
    evicted = []
    c = LRUCache(maxsize=1, on_evict=lambda k, v: evicted.append((k, v)))
    c.set("a", 1)
    c.set("b", 2)
    c.delete("b")
    assert evicted == [("a", 1)]


def test_delete_pop_clear():
    c = LRUCache()
    c.set("a", 1)
    c.set("b", 2)
    assert c.delete("a") is True
    assert c.delete("a") is False
    assert c.pop("b") == 2
    assert c.pop("b", "gone") == "gone"
    with pytest.raises(KeyError):
        c.pop("b")
    with pytest.raises(KeyError):
        del c["b"]
    c.set("x", 1)
    c.clear()
    assert len(c) == 0


def test_setdefault():
    c = LRUCache()
    assert c.setdefault("a", []) == []
    c.get("a").append(1)
    assert c.setdefault("a", "other") == [1]


def test_resize_evicts_least_recently_inserted():
    c = LRUCache(maxsize=4)
    for k in "abcd":
        c.set(k, k.upper())
    c.resize(2)
    assert c.keys() == ["c", "d"]
    assert c.maxsize == 2
    with pytest.raises(ValueError):
        c.resize(-1)


def test_iteration_and_items():
    c = LRUCache()
    c.set("a", 1)
    c.set("b", 2)
    assert list(c) == ["a", "b"]
    assert c.items() == [("a", 1), ("b", 2)]
    assert "currsize=2" in repr(c)
