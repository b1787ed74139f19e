"""Exception types."""


class GraphError(Exception):
    """Base class for graph errors."""


class NoPathError(GraphError):
    """The target node cannot be reached from the source."""

    def __init__(self, source, target):
        super().__init__("no path from %r to %r" % (source, target))
        self.source = source
        self.target = target


class CycleError(GraphError):
    """The graph contains a cycle where none is allowed.

    ``cycle`` holds the nodes of one offending cycle, first node repeated
    at the end (``['a', 'b', 'a']``).
    """

    def __init__(self, cycle):
        super().__init__("graph contains a cycle: %s" % " -> ".join(map(repr, cycle)))
        self.cycle = list(cycle)
