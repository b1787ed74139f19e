from jsonpathlite import first, query, query_paths


def test_root(store):
    assert query("$", store) == [store]


def test_dot_members(store):
    assert query("$.store.bicycle.color", store) == ["red"]
    assert query("$.store.nothing", store) == []


def test_bracket_members(store):
    assert query("$['store']['bicycle']['color', 'price']", store) == ["red", 19.95]


def test_wildcards(store):
    assert query("$.store.book[*].author", store) == ["Rees", "Waugh", "Melville", "Tolkien"]
    assert len(query("$.store.*", store)) == 2


def test_recursive_descent(store):
    assert query("$..price", store) == [8.95, 12.99, 8.99, 22.99, 19.95]
    assert query("$..book[0].title", store) == ["Sayings"]


def test_index_and_negative_index(store):
    assert query("$.store.book[0].title", store) == ["Sayings"]
    assert query("$.store.book[-1].title", store) == ["Rings"]
    assert query("$.store.book[0,2].title", store) == ["Sayings", "Moby Dick"]


def test_index_out_of_range(store):
    assert query("$.store.book[4]", store) == []
    assert query("$.store.book[-5]", store) == []


def test_index_on_non_array(store):
    assert query("$.store.bicycle[0]", store) == []
    assert query("$.expensive[1:]", store) == []


def test_paths(store):
    assert query_paths("$.store.book[-1].price", store) == [
        (("store", "book", 3, "price"), 22.99),
    ]


def test_first(store):
    assert first("$.store.book[*].title", store) == "Sayings"
    assert first("$.missing", store, default="n/a") == "n/a"


def test_tuples_are_arrays():
    assert query("$.a[1]", {"a": (1, 2, 3)}) == [2]
