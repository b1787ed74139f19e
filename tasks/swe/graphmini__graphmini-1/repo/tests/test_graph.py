import pytest

from graphmini import Graph, GraphError


def test_add_edges_undirected():
    g = Graph()
    g.add_edges([("a", "b"), ("b", "c", 5)])
    assert g.nodes == ["a", "b", "c"]
    assert g.has_edge("b", "a")
    assert g.weight("c", "b") == 5
    assert g.edges() == [("a", "b", 1), ("b", "c", 5)]
    assert g.degree("b") == 2


def test_add_edges_directed():
    g = Graph(directed=True)
    g.add_edge("a", "b", 2)
    assert g.has_edge("a", "b")
    assert not g.has_edge("b", "a")
    assert g.predecessors("b") == ["a"]
    assert (g.in_degree("b"), g.out_degree("b"), g.degree("a")) == (1, 0, 1)


def test_replace_weight():
    g = Graph()
    g.add_edge(1, 2, 3)
    g.add_edge(2, 1, 7)
    assert g.edges() == [(1, 2, 7)]


def test_remove_edge_and_node():
    g = Graph(directed=True)
    g.add_edges([("a", "b"), ("b", "c"), ("c", "a")])
    g.remove_edge("a", "b")
    assert not g.has_edge("a", "b")
    with pytest.raises(GraphError):
        g.remove_edge("a", "b")
    g.remove_node("c")
    assert g.nodes == ["a", "b"]
    assert g.edges() == []
    with pytest.raises(GraphError):
        g.remove_node("zzz")


def test_remove_node_undirected():
    g = Graph()
    g.add_edges([("a", "b"), ("b", "c"), ("c", "c")])
    g.remove_node("b")
    assert g.neighbors("a") == []
    assert g.degree("c") == 2


def test_unknown_node_errors():
    g = Graph()
    with pytest.raises(GraphError):
        g.neighbors("x")
    with pytest.raises(GraphError):
        g.weight("x", "y")


def test_copy_reverse_subgraph():
    g = Graph(directed=True)
    g.add_edges([("a", "b", 1), ("b", "c", 2)])
    r = g.reverse()
    assert r.edges() == [("b", "a", 1), ("c", "b", 2)]
    c = g.copy()
    c.add_edge("c", "d")
    assert "d" not in g
    s = g.subgraph(["b", "c"])
    assert s.edges() == [("b", "c", 2)]
    assert repr(g) == "Graph(directed, 3 nodes, 2 edges)"
