"""graphmini - a small pure-Python graph library.

>>> from graphmini import Graph, shortest_path
>>> g = Graph(directed=True)
>>> g.add_edge("a", "b", 2)
>>> g.add_edge("b", "c", 3)
>>> shortest_path(g, "a", "c")
(5, ['a', 'b', 'c'])
"""

from .errors import CycleError, GraphError, NoPathError
from .graph import Graph
from .paths import dijkstra, path_length, shortest_path
from .topo import find_cycle, has_cycle, topological_sort
from .traversal import bfs, bfs_path, connected_components, dfs, is_connected

__version__ = "1.0.0"

__all__ = [
    "CycleError",
    "Graph",
    "GraphError",
    "NoPathError",
    "bfs",
    "bfs_path",
    "connected_components",
    "dfs",
    "dijkstra",
    "find_cycle",
    "has_cycle",
    "is_connected",
    "path_length",
    "shortest_path",
    "topological_sort",
]
