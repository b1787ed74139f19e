"""The Graph container."""

from .errors import GraphError

__all__ = ["Graph"]


class Graph:
    """A directed or undirected graph with weighted edges.

    Nodes may be any hashable objects. Adjacency is stored as a dict of
    dicts (``node -> {neighbour: weight}``), preserving insertion order, so
    traversals are deterministic. Parallel edges are not supported: adding
    an existing edge again replaces its weight.
    """

    def __init__(self, directed=False):
        self.directed = directed
        self._adj = {}
        self._pred = {} if directed else self._adj

    # -- building ----------------------------------------------------------

    def add_node(self, node):
        if node not in self._adj:
            self._adj[node] = {}
            if self.directed:
                self._pred[node] = {}

    def add_nodes(self, nodes):
        for node in nodes:
            self.add_node(node)

    def add_edge(self, u, v, weight=1):
        """Add an edge ``u -> v`` (both ways when undirected)."""
        self.add_node(u)
        self.add_node(v)
        self._adj[u][v] = weight
        if self.directed:
            self._pred[v][u] = weight
        else:
            self._adj[v][u] = weight

    def add_edges(self, edges):
        """Add edges given as ``(u, v)`` or ``(u, v, weight)`` tuples."""
        for edge in edges:
            self.add_edge(*edge)

    def remove_edge(self, u, v):
        try:
            del self._adj[u][v]
        except KeyError:
            raise GraphError("no edge %r -> %r" % (u, v)) from None
        if self.directed:
            del self._pred[v][u]
        elif u != v:
            del self._adj[v][u]

    def remove_node(self, node):
        if node not in self._adj:
            raise GraphError("no node %r" % (node,))
        for v in list(self._adj[node]):
            if self.directed:
                del self._pred[v][node]
            elif v != node:
                del self._adj[v][node]
        if self.directed:
            for u in list(self._pred[node]):
                del self._adj[u][node]
            del self._pred[node]
        del self._adj[node]

    # -- queries -----------------------------------------------------------

    def __contains__(self, node):
        return node in self._adj

    def __len__(self):
        return len(self._adj)

    def __iter__(self):
        return iter(self._adj)

    @property
    def nodes(self):
        return list(self._adj)

    def edges(self):
        """List of ``(u, v, weight)``; undirected edges are listed once."""
        out = []
        seen = set()
        for u, nbrs in self._adj.items():
            for v, w in nbrs.items():
                if not self.directed:
                    key = frozenset((u, v))
                    if key in seen:
                        continue
                    seen.add(key)
                out.append((u, v, w))
        return out

    def has_edge(self, u, v):
        return u in self._adj and v in self._adj[u]

    def weight(self, u, v):
        try:
            return self._adj[u][v]
        except KeyError:
            raise GraphError("no edge %r -> %r" % (u, v)) from None

    def neighbors(self, node):
        """Successors of *node*, in insertion order."""
        try:
            return list(self._adj[node])
        except KeyError:
            raise GraphError("no node %r" % (node,)) from None

    def weighted_neighbors(self, node):
        """``(successor, weight)`` pairs of *node*."""
        try:
            return list(self._adj[node].items())
        except KeyError:
            raise GraphError("no node %r" % (node,)) from None

    def predecessors(self, node):
        try:
            return list(self._pred[node])
        except KeyError:
            raise GraphError("no node %r" % (node,)) from None

    def out_degree(self, node):
        return len(self.neighbors(node))

    def in_degree(self, node):
        return len(self.predecessors(node))

    def degree(self, node):
        if self.directed:
            return self.in_degree(node) + self.out_degree(node)
        # A self-loop counts twice, as usual.
        return self.out_degree(node) + (1 if node in self._adj[node] else 0)

    # -- derived graphs ----------------------------------------------------

    def copy(self):
        g = Graph(directed=self.directed)
        g.add_nodes(self._adj)
        for u, v, w in self.edges():
            g.add_edge(u, v, w)
        return g

    def reverse(self):
        """A new graph with every edge reversed (a copy if undirected)."""
        if not self.directed:
            return self.copy()
        g = Graph(directed=True)
        g.add_nodes(self._adj)
        for u, v, w in self.edges():
            g.add_edge(v, u, w)
        return g

    def subgraph(self, nodes):
        keep = set(nodes)
        g = Graph(directed=self.directed)
        g.add_nodes(n for n in self._adj if n in keep)
        for u, v, w in self.edges():
            if u in keep and v in keep:
                g.add_edge(u, v, w)
        return g

    def __repr__(self):
        kind = "directed" if self.directed else "undirected"
        return "Graph(%s, %d nodes, %d edges)" % (kind, len(self), len(self.edges()))
