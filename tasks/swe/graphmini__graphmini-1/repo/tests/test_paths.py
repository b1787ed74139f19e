import pytest

from graphmini import Graph, GraphError, NoPathError, dijkstra, path_length, shortest_path


def test_chain():
    g = Graph(directed=True)
    g.add_edge("a", "b", 2)
    g.add_edge("b", "c", 3)
    assert shortest_path(g, "a", "c") == (5, ["a", "b", "c"])


def test_direct_edge_is_shorter():
    g = Graph(directed=True)
    g.add_edges([("a", "b", 1), ("a", "c", 4), ("b", "c", 5)])
    assert shortest_path(g, "a", "c") == (4, ["a", "c"])


def test_dijkstra_tree_distances():
    g = Graph()
    g.add_edges([("r", "x", 3), ("r", "y", 1), ("y", "z", 4), ("x", "w", 2)])
    dist, prev = dijkstra(g, "r")
    assert dist == {"r": 0, "y": 1, "x": 3, "w": 5, "z": 5}
    assert prev == {"x": "r", "y": "r", "z": "y", "w": "x"}


def test_source_to_itself():
    g = Graph()
    g.add_edge(1, 2, 7)
    assert shortest_path(g, 1, 1) == (0, [1])


def test_unreachable():
    g = Graph(directed=True)
    g.add_edge("a", "b")
    g.add_node("c")
    with pytest.raises(NoPathError) as info:
        shortest_path(g, "a", "c")
    assert (info.value.source, info.value.target) == ("a", "c")
    assert "c" not in dijkstra(g, "a")[0]


def test_unknown_nodes():
    g = Graph()
    g.add_edge(1, 2)
    with pytest.raises(GraphError):
        dijkstra(g, 3)
    with pytest.raises(GraphError):
        shortest_path(g, 1, 3)


def test_negative_weight_rejected():
    g = Graph(directed=True)
    g.add_edge("a", "b", -1)
    with pytest.raises(GraphError):
        dijkstra(g, "a")


def test_float_weights_and_path_length():
    g = Graph()
    g.add_edges([("a", "b", 0.5), ("b", "c", 0.25)])
    cost, path = shortest_path(g, "a", "c")
    assert cost == pytest.approx(0.75)
    assert path_length(g, path) == pytest.approx(cost)
