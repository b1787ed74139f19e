from lrucachex import cached, make_key


def test_memoizes_results():
    calls = []

    @cached(maxsize=8)
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert square(4) == 16
    assert calls == [3, 4]
    info = square.cache_info()
    assert (info.hits, info.misses, info.maxsize, info.currsize) == (1, 2, 8, 2)


def test_bare_decorator():
    @cached
    def ident(x):
        return x

    assert ident(1) == 1
    assert ident.cache.maxsize == 128
    assert ident.__name__ == "ident"


def test_cache_clear():
    @cached()
    def f(x):
        return x

    f(1)
    f(1)
    f.cache_clear()
    assert f.cache_info() == (0, 0, 128, 0)


def test_kwargs_order_irrelevant():
    assert make_key((1,), {"a": 1, "b": 2}) == make_key((1,), {"b": 2, "a": 1})
    assert hash(make_key((1,), {"a": 1})) == hash(make_key((1,), {"a": 1}))


def test_typed_keys():
    assert make_key((1,), {}) == make_key((1.0,), {})
    assert make_key((1,), {}, typed=True) != make_key((1.0,), {}, typed=True)

    @cached(typed=True)
    def kind(x):
        return type(x).__name__

    assert kind(1) == "int"
    assert kind(1.0) == "float"


def test_custom_key_function():
    @cached(key=lambda user, **kw: user["id"])
    def greet(user, punct="!"):
        return "hi " + user["name"] + punct

    assert greet({"id": 1, "name": "ann"}) == "hi ann!"
    assert greet({"id": 1, "name": "bob"}) == "hi ann!"


def test_decorator_ttl(clock):
    calls = []

    @cached(ttl=5, clock=clock)
    def now_value(x):
        calls.append(x)
        return len(calls)

    assert now_value("a") == 1
    assert now_value("a") == 1
    clock.advance(6)
    assert now_value("a") == 2


def test_decorator_evicts_oldest_call():
    calls = []

    @cached(maxsize=2)
    def f(x):
        calls.append(x)
        return x

    f(1)
    f(2)
    f(3)
    f(1)
    assert calls == [1, 2, 3, 1]
