"""Exception types."""


class UnitError(Exception):
    """Base class for unit related errors."""


class UndefinedUnitError(UnitError, KeyError):
    """A unit name is not known to the registry."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name

    def __str__(self):
        return "undefined unit %r" % (self.name,)


class DimensionalityError(UnitError, ValueError):
    """Two units measure different physical quantities."""

    def __init__(self, src, dst, src_dim, dst_dim):
        super().__init__(src, dst)
        self.src, self.dst = src, dst
        self.src_dim, self.dst_dim = src_dim, dst_dim

    def __str__(self):
        return "cannot convert %r (%s) to %r (%s)" % (
            self.src, self.src_dim, self.dst, self.dst_dim)
