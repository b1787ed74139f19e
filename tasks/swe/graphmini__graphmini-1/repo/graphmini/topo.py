"""Topological ordering and cycle detection for directed graphs."""

import heapq

from .errors import CycleError, GraphError

__all__ = ["topological_sort", "find_cycle", "has_cycle"]


def _require_directed(graph):
    if not graph.directed:
        raise GraphError("operation requires a directed graph")


def topological_sort(graph, key=None):
    """Order the nodes so that every edge points forward (Kahn's algorithm).

    Among nodes that are ready at the same time, the one that was added to
    the graph first comes first; pass *key* to order them by ``key(node)``
    instead. Raises :class:`CycleError` if the graph has a cycle.
    """
    _require_directed(graph)
    rank = {node: i for i, node in enumerate(graph)}
    if key is None:
        def sort_key(node):
            return (rank[node],)
    else:
        def sort_key(node):
            return (key(node), rank[node])

    indeg = {node: graph.in_degree(node) for node in graph}
    ready = [(sort_key(n), rank[n], n) for n in graph if indeg[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, _, u = heapq.heappop(ready)
        order.append(u)
        for v in graph.neighbors(u):
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready, (sort_key(v), rank[v], v))
    if len(order) != len(graph):
        raise CycleError(find_cycle(graph) or [])
    return order


def find_cycle(graph):
    """Return one cycle as a node list (first node repeated), or ``None``."""
    _require_directed(graph)
    WHITE, GREY, BLACK = 0, 1, 2
    color = {node: WHITE for node in graph}
    for root in graph:
        if color[root] != WHITE:
            continue
        color[root] = GREY
        stack = [(root, iter(graph.neighbors(root)))]
        while stack:
            u, it = stack[-1]
            for v in it:
                if color[v] == GREY:
                    nodes = [n for n, _ in stack]
                    return nodes[nodes.index(v):] + [v]
                if color[v] == WHITE:
                    color[v] = GREY
                    stack.append((v, iter(graph.neighbors(v))))
                    break
            else:
                color[u] = BLACK
                stack.pop()
    return None


def has_cycle(graph):
    return find_cycle(graph) is not None
