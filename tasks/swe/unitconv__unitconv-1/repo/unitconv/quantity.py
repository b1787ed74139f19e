"""A value paired with its unit."""

import math

from .errors import DimensionalityError, UnitError


class Quantity:
    """A number with a unit, e.g. ``Quantity(3, "km")``.

    Quantities convert with :meth:`to`, compare across compatible units and
    support ``+ - * /``. Multiplying or dividing builds compound units, which
    are not allowed for units with an offset (like degC); convert those to
    an absolute unit (K) first.
    """

    __slots__ = ("value", "unit", "_registry")

    def __init__(self, value, unit, registry=None):
        from .registry import default_registry
        self._registry = registry or default_registry
        self.value = value
        self.unit = self._registry.parse(unit)

    def to(self, unit):
        """Return an equivalent quantity expressed in *unit*."""
        target = self._registry.parse(unit)
        return Quantity(self._registry.convert(self.value, self.unit, target),
                        target, self._registry)

    def to_base(self):
        return self.unit.to_base(self.value)

    def _coerce(self, other):
        if not isinstance(other, Quantity):
            raise TypeError("expected a Quantity, got %r" % (other,))
        if not self.unit.is_compatible(other.unit):
            raise DimensionalityError(self.unit.name, other.unit.name,
                                      self.unit.dimension, other.unit.dimension)
        return other.to(self.unit).value

    def __add__(self, other):
        if self.unit.has_offset:
            raise UnitError("cannot add quantities in offset unit %r" % self.unit.name)
        return Quantity(self.value + self._coerce(other), self.unit, self._registry)

    def __sub__(self, other):
        if self.unit.has_offset:
            raise UnitError("cannot subtract quantities in offset unit %r" % self.unit.name)
        return Quantity(self.value - self._coerce(other), self.unit, self._registry)

    def __mul__(self, other):
        if isinstance(other, Quantity):
            return Quantity(self.value * other.value, self.unit * other.unit, self._registry)
        return Quantity(self.value * other, self.unit, self._registry)

    __rmul__ = __mul__

    def __truediv__(self, other):
        if isinstance(other, Quantity):
            return Quantity(self.value / other.value, self.unit / other.unit, self._registry)
        return Quantity(self.value / other, self.unit, self._registry)

    def __eq__(self, other):
        if not isinstance(other, Quantity):
            return NotImplemented
        if not self.unit.is_compatible(other.unit):
            return False
        return math.isclose(self.to_base(), other.to_base(), rel_tol=1e-9, abs_tol=1e-12)

    def __lt__(self, other):
        return self.to_base() < other.to(self.unit).to_base()

    def __le__(self, other):
        return self == other or self < other

    def __hash__(self):
        return hash((round(self.to_base(), 9), self.unit.dimension))

    def __repr__(self):
        return "Quantity(%r, %r)" % (self.value, self.unit.name)

    def __str__(self):
        return "%g %s" % (self.value, self.unit.name)
