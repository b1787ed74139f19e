"""Unweighted traversals."""

from collections import deque

from .errors import GraphError, NoPathError

__all__ = ["bfs", "dfs", "bfs_path", "connected_components", "is_connected"]


def _check(graph, node):
    if node not in graph:
        raise GraphError("no node %r" % (node,))


def bfs(graph, start):
    """Nodes reachable from *start* in breadth-first order."""
    _check(graph, start)
    seen = {start}
    order = []
    queue = deque([start])
    while queue:
        u = queue.popleft()
        order.append(u)
        for v in graph.neighbors(u):
            if v not in seen:
                seen.add(v)
                queue.append(v)
    return order


def dfs(graph, start):
    """Nodes reachable from *start* in depth-first preorder.

    Neighbours are explored in insertion order, exactly like the recursive
    formulation, but without recursion limits.
    """
    _check(graph, start)
    seen = set()
    order = []
    stack = [start]
    while stack:
        u = stack.pop()
        if u in seen:
            continue
        seen.add(u)
        order.append(u)
        for v in reversed(graph.neighbors(u)):
            if v not in seen:
                stack.append(v)
    return order


def bfs_path(graph, source, target):
    """A path with the fewest edges from *source* to *target*."""
    _check(graph, source)
    _check(graph, target)
    parent = {source: None}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        if u == target:
            path = []
            while u is not None:
                path.append(u)
                u = parent[u]
            return path[::-1]
        for v in graph.neighbors(u):
            if v not in parent:
                parent[v] = u
                queue.append(v)
    raise NoPathError(source, target)


def connected_components(graph):
    """Weakly connected components, each a list in BFS order."""
    seen = set()
    components = []
    for node in graph:
        if node in seen:
            continue
        comp = []
        queue = deque([node])
        seen.add(node)
        while queue:
            u = queue.popleft()
            comp.append(u)
            nbrs = graph.neighbors(u)
            if graph.directed:
                nbrs = nbrs + graph.predecessors(u)
            for v in nbrs:
                if v not in seen:
                    seen.add(v)
                    queue.append(v)
        components.append(comp)
    return components


def is_connected(graph):
    return len(graph) == 0 or len(connected_components(graph)) == 1
