from jsonpathlite import query


def titles(expr, store):
    return query("$.store.book[?(%s)].title" % expr, store)


def test_numeric_comparison(store):
    assert titles("@.price < 10", store) == ["Sayings", "Moby Dick"]
    assert titles("@.price >= 12.99", store) == ["Sword", "Rings"]


def test_string_equality(store):
    assert titles("@.author == 'Waugh'", store) == ["Sword"]
    assert titles('@.author != "Waugh"', store) == ["Sayings", "Moby Dick", "Rings"]


def test_existence(store):
    assert titles("@.isbn", store) == ["Moby Dick", "Rings"]
    assert titles("!@.isbn", store) == ["Sayings", "Sword"]


def test_boolean_operators(store):
    assert titles("@.isbn && @.price > 10", store) == ["Rings"]
    assert titles("@.price > 20 || @.tags", store) == ["Sayings", "Rings"]
    assert titles("(@.price < 9 || @.price > 20) && !@.tags", store) == ["Moby Dick", "Rings"]


def test_nested_relative_path(store):
    assert titles("@.tags[0] == 'quotes'", store) == ["Sayings"]


def test_mixed_types_do_not_raise():
    data = {"items": [{"v": 1}, {"v": "x"}, {"v": None}, {}]}
    assert query("$.items[?(@.v > 0)].v", data) == [1]


def test_literals():
    data = {"items": [{"ok": True}, {"ok": False}, {"ok": None}]}
    assert query("$.items[?(@.ok == true)]", data) == [{"ok": True}]
    assert query("$.items[?(@.ok == null)]", data) == [{"ok": None}]


def test_filter_on_object_values():
    data = {"m": {"a": {"n": 1}, "b": {"n": 5}}}
    assert query("$.m[?(@.n > 2)]", data) == [{"n": 5}]
