"""Unit definitions, parsing of unit expressions, and conversion."""

import re

from . import dimensions as dims
from .errors import DimensionalityError, UndefinedUnitError, UnitError

_PREFIXES = {
    "G": 1e9, "M": 1e6, "k": 1e3, "h": 1e2, "da": 1e1,
    "d": 1e-1, "c": 1e-2, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9,
}


class Unit:
    """A unit: a linear map (plus optional offset) onto the base SI unit.

    A value ``v`` in this unit corresponds to ``(v + offset) * scale`` in the
    base unit of its dimension. The offset is expressed in *this* unit, which
    is how temperature scales are usually defined: absolute zero is
    459.67 °F below 0 °F, and one degree Fahrenheit is 5/9 kelvin.
    """

    __slots__ = ("name", "scale", "dimension", "offset")

    def __init__(self, name, scale, dimension, offset=0.0):
        if scale == 0:
            raise ValueError("unit scale cannot be zero")
        self.name = name
        self.scale = float(scale)
        self.dimension = dimension
        self.offset = float(offset)

    @property
    def has_offset(self):
        return self.offset != 0.0

    def to_base(self, value):
        """Express *value* (in this unit) in the base unit."""
        return value * self.scale + self.offset

    def from_base(self, value):
        """Express *value* (in the base unit) in this unit."""
        return value / self.scale - self.offset

    def __mul__(self, other):
        _no_offset(self, other)
        return Unit("%s*%s" % (self.name, other.name), self.scale * other.scale,
                    self.dimension * other.dimension)

    def __truediv__(self, other):
        _no_offset(self, other)
        return Unit("%s/%s" % (self.name, other.name), self.scale / other.scale,
                    self.dimension / other.dimension)

    def __pow__(self, power):
        _no_offset(self)
        return Unit("%s^%d" % (self.name, power), self.scale ** power,
                    self.dimension ** power)

    def is_compatible(self, other):
        return self.dimension == other.dimension

    def __repr__(self):
        return "Unit(%r, scale=%g, dim=%s%s)" % (
            self.name, self.scale, self.dimension,
            ", offset=%g" % self.offset if self.offset else "")


def _no_offset(*units):
    for u in units:
        if u.has_offset:
            raise UnitError("unit %r has an offset and cannot be combined "
                            "with other units" % u.name)


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-zµ°Ω_][A-Za-z0-9µ°Ω_]*)|(?P<op>[*/^()])"
                    r"|(?P<num>-?\d+))")


class UnitRegistry:
    """A collection of named units that can parse compound expressions."""

    def __init__(self, populate=True):
        self._units = {}
        self._prefixable = set()
        self._cache = {}
        if populate:
            _populate(self)

    def define(self, name, scale, dimension, offset=0.0, aliases=(), prefixable=False):
        """Register a unit under *name* (and any *aliases*)."""
        unit = Unit(name, scale, dimension, offset)
        for key in (name,) + tuple(aliases):
            if key in self._units:
                raise UnitError("unit %r is already defined" % key)
            self._units[key] = unit
            if prefixable:
                self._prefixable.add(key)
        self._cache.clear()
        return unit

    def alias(self, new_name, expression):
        """Define *new_name* as a shorthand for a unit *expression*."""
        unit = self.parse(expression)
        return self.define(new_name, unit.scale, unit.dimension, unit.offset)

    def __contains__(self, name):
        try:
            self._lookup(name)
        except UndefinedUnitError:
            return False
        return True

    def _lookup(self, name):
        unit = self._units.get(name)
        if unit is not None:
            return unit
        for prefix in sorted(_PREFIXES, key=len, reverse=True):
            base = name[len(prefix):]
            if name.startswith(prefix) and base in self._prefixable:
                u = self._units[base]
                return Unit(name, u.scale * _PREFIXES[prefix], u.dimension)
        raise UndefinedUnitError(name)

    # -- expression parsing ------------------------------------------------

    def parse(self, expression):
        """Parse a unit expression such as ``"kg*m/s^2"`` into a :class:`Unit`.

        Grammar: ``term (('*' | '/') term)*`` where a term is a unit name or a
        parenthesised expression, optionally raised to an integer power with
        ``^``. ``/`` binds left to right, so ``"m/s/s"`` is ``m/s^2``.
        """
        if isinstance(expression, Unit):
            return expression
        cached = self._cache.get(expression)
        if cached is not None:
            return cached
        tokens = self._tokenize(expression)
        pos, unit = self._parse_product(tokens, 0, expression)
        if pos != len(tokens):
            raise UnitError("unexpected %r in unit expression %r"
                            % (tokens[pos][1], expression))
        if len(tokens) > 1:
            unit = Unit(expression, unit.scale, unit.dimension, unit.offset)
        self._cache[expression] = unit
        return unit

    @staticmethod
    def _tokenize(expression):
        tokens = []
        pos = 0
        text = expression.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise UnitError("cannot parse unit expression %r" % expression)
            kind = m.lastgroup
            tokens.append((kind, m.group(kind)))
            pos = m.end()
        if not tokens:
            raise UnitError("empty unit expression")
        return tokens

    def _parse_product(self, tokens, pos, expr):
        pos, unit = self._parse_power(tokens, pos, expr)
        while pos < len(tokens) and tokens[pos] in (("op", "*"), ("op", "/")):
            op = tokens[pos][1]
            pos, rhs = self._parse_power(tokens, pos + 1, expr)
            unit = unit * rhs if op == "*" else unit / rhs
        return pos, unit

    def _parse_power(self, tokens, pos, expr):
        if pos >= len(tokens):
            raise UnitError("unexpected end of unit expression %r" % expr)
        kind, text = tokens[pos]
        if (kind, text) == ("op", "("):
            pos, unit = self._parse_product(tokens, pos + 1, expr)
            if pos >= len(tokens) or tokens[pos] != ("op", ")"):
                raise UnitError("missing ')' in unit expression %r" % expr)
            pos += 1
        elif kind == "name":
            unit = self._lookup(text)
            pos += 1
        else:
            raise UnitError("unexpected %r in unit expression %r" % (text, expr))
        if pos < len(tokens) and tokens[pos] == ("op", "^"):
            if pos + 1 >= len(tokens) or tokens[pos + 1][0] != "num":
                raise UnitError("expected an integer exponent in %r" % expr)
            unit = unit ** int(tokens[pos + 1][1])
            pos += 2
        return pos, unit

    # -- conversion --------------------------------------------------------

    def convert(self, value, src, dst):
        """Convert *value* from unit expression *src* to *dst*."""
        su, du = self.parse(src), self.parse(dst)
        if not su.is_compatible(du):
            raise DimensionalityError(su.name, du.name, su.dimension, du.dimension)
        return du.from_base(su.to_base(value))

    def conversion_factor(self, src, dst):
        """Multiplicative factor from *src* to *dst* (no offsets allowed)."""
        su, du = self.parse(src), self.parse(dst)
        _no_offset(su, du)
        if not su.is_compatible(du):
            raise DimensionalityError(su.name, du.name, su.dimension, du.dimension)
        return su.scale / du.scale


def _populate(reg):
    d = reg.define
    # length
    d("m", 1, dims.LENGTH, aliases=("meter", "metre"), prefixable=True)
    d("in", 0.0254, dims.LENGTH, aliases=("inch",))
    d("ft", 0.3048, dims.LENGTH, aliases=("foot", "feet"))
    d("yd", 0.9144, dims.LENGTH, aliases=("yard",))
    d("mi", 1609.344, dims.LENGTH, aliases=("mile",))
    d("nmi", 1852, dims.LENGTH)
    # mass
    d("g", 1e-3, dims.MASS, aliases=("gram",), prefixable=True)
    d("t", 1000, dims.MASS, aliases=("tonne",))
    d("lb", 0.45359237, dims.MASS, aliases=("pound",))
    d("oz", 0.028349523125, dims.MASS, aliases=("ounce",))
    # time
    d("s", 1, dims.TIME, aliases=("sec", "second"), prefixable=True)
    d("min", 60, dims.TIME, aliases=("minute",))
    d("h", 3600, dims.TIME, aliases=("hr", "hour"))
    d("day", 86400, dims.TIME)
    # temperature (base unit: kelvin)
    d("K", 1, dims.TEMPERATURE, aliases=("kelvin",), prefixable=True)
    d("degC", 1, dims.TEMPERATURE, offset=273.15, aliases=("°C", "celsius"))
    d("degF", 5 / 9, dims.TEMPERATURE, offset=459.67, aliases=("°F", "fahrenheit"))
    d("degR", 5 / 9, dims.TEMPERATURE, aliases=("°R", "rankine"))
    # other base quantities
    d("A", 1, dims.CURRENT, aliases=("ampere",), prefixable=True)
    d("mol", 1, dims.AMOUNT, prefixable=True)
    # derived units
    reg.alias("N", "kg*m/s^2")
    reg.alias("J", "N*m")
    reg.alias("W", "J/s")
    reg.alias("Pa", "N/m^2")
    reg.alias("L", "dm^3")
    reg.alias("kn", "nmi/h")
    reg.alias("mph", "mi/h")
    for name in ("N", "J", "W", "Pa", "L"):
        reg._prefixable.add(name)


default_registry = UnitRegistry()
