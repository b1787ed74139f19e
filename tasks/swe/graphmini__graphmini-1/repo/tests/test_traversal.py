import pytest

from graphmini import (Graph, GraphError, NoPathError, bfs, bfs_path,
                       connected_components, dfs, is_connected)


@pytest.fixture
def tree():
    g = Graph()
    g.add_edges([(1, 2), (1, 3), (2, 4), (2, 5), (3, 6)])
    return g


def test_bfs_order(tree):
    assert bfs(tree, 1) == [1, 2, 3, 4, 5, 6]


def test_dfs_order(tree):
    assert dfs(tree, 1) == [1, 2, 4, 5, 3, 6]


def test_dfs_directed_with_cycle():
    g = Graph(directed=True)
    g.add_edges([("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")])
    assert dfs(g, "a") == ["a", "b", "c", "d"]
    assert bfs(g, "b") == ["b", "c", "a", "d"]


def test_unknown_start(tree):
    with pytest.raises(GraphError):
        bfs(tree, 99)


def test_bfs_path(tree):
    assert bfs_path(tree, 4, 6) == [4, 2, 1, 3, 6]
    assert bfs_path(tree, 5, 5) == [5]


def test_bfs_path_unreachable():
    g = Graph(directed=True)
    g.add_edge("a", "b")
    with pytest.raises(NoPathError):
        bfs_path(g, "b", "a")


def test_components():
    g = Graph()
    g.add_edges([("a", "b"), ("c", "d"), ("d", "e")])
    g.add_node("f")
    assert connected_components(g) == [["a", "b"], ["c", "d", "e"], ["f"]]
    assert not is_connected(g)


def test_weak_components_directed():
    g = Graph(directed=True)
    g.add_edges([("a", "b"), ("c", "b")])
    assert connected_components(g) == [["a", "b", "c"]]
    assert is_connected(g)
