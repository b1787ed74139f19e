"""Weighted shortest paths (Dijkstra)."""

import heapq
import itertools

from .errors import GraphError, NoPathError

__all__ = ["dijkstra", "shortest_path", "path_length"]


def dijkstra(graph, source):
    """Single-source shortest paths for non-negative edge weights.

    Returns ``(dist, prev)``: ``dist[v]`` is the length of a shortest path
    from *source* to every reachable node ``v``, and ``prev[v]`` is the node
    before ``v`` on that path (the source has no entry in *prev*).

    Raises :class:`GraphError` on a negative edge weight.
    """
    if source not in graph:
        raise GraphError("no node %r" % (source,))
    dist = {}
    prev = {}
    best = {source: 0}          # tentative distances
    tie = itertools.count()     # keeps heap entries comparable
    heap = [(0, next(tie), source)]
    while heap:
        d, _, u = heapq.heappop(heap)
        dist[u] = d
        for v, w in graph.weighted_neighbors(u):
            if w < 0:
                raise GraphError("negative weight on edge %r -> %r" % (u, v))
            nd = d + w
            if v not in best or nd < best[v]:
                best[v] = nd
                prev[v] = u
                heapq.heappush(heap, (nd, next(tie), v))
    return dist, prev


def shortest_path(graph, source, target):
    """Return ``(length, path)`` of a shortest *source* -> *target* path."""
    if target not in graph:
        raise GraphError("no node %r" % (target,))
    dist, prev = dijkstra(graph, source)
    if target not in dist:
        raise NoPathError(source, target)
    path = [target]
    while path[-1] != source:
        path.append(prev[path[-1]])
    path.reverse()
    return dist[target], path


def path_length(graph, path):
    """Total weight of the edges along *path* (a list of nodes)."""
    total = 0
    for u, v in zip(path, path[1:]):
        total += graph.weight(u, v)
    return total
