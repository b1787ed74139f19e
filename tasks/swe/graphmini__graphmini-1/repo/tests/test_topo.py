import pytest

from graphmini import CycleError, Graph, GraphError, find_cycle, has_cycle, topological_sort


def test_topological_sort_insertion_order():
    g = Graph(directed=True)
    g.add_edges([("shirt", "tie"), ("tie", "jacket"), ("pants", "shoes"),
                 ("pants", "belt"), ("belt", "jacket"), ("socks", "shoes")])
    order = topological_sort(g)
    assert order == ["shirt", "tie", "pants", "belt", "jacket", "socks", "shoes"]
    pos = {n: i for i, n in enumerate(order)}
    for u, v, _ in g.edges():
        assert pos[u] < pos[v]


def test_topological_sort_with_key():
    g = Graph(directed=True)
    g.add_nodes(["c", "b", "a"])
    g.add_edge("c", "a")
    assert topological_sort(g) == ["c", "b", "a"]
    assert topological_sort(g, key=str) == ["b", "c", "a"]


def test_cycle_detected():
    g = Graph(directed=True)
    g.add_edges([(1, 2), (2, 3), (3, 4), (4, 2)])
    with pytest.raises(CycleError) as info:
        topological_sort(g)
    assert info.value.cycle == [2, 3, 4, 2]
    assert has_cycle(g)


def test_self_loop_is_cycle():
    g = Graph(directed=True)
    g.add_edge("x", "x")
    assert find_cycle(g) == ["x", "x"]


def test_dag_has_no_cycle():
    g = Graph(directed=True)
    g.add_edges([(1, 2), (1, 3), (2, 4), (3, 4)])
    assert find_cycle(g) is None


def test_undirected_rejected():
    with pytest.raises(GraphError):
        topological_sort(Graph())
