"""Dimensions as vectors of exponents over the SI base quantities."""

BASE_DIMENSIONS = ("length", "mass", "time", "temperature", "current", "amount")
_SYMBOLS = ("L", "M", "T", "Θ", "I", "N")


class Dimension:
    """An immutable vector of integer exponents, one per base dimension."""

    __slots__ = ("exponents",)

    def __init__(self, exponents=None, **named):
        exps = [0] * len(BASE_DIMENSIONS)
        if exponents is not None:
            if len(exponents) != len(BASE_DIMENSIONS):
                raise ValueError("expected %d exponents" % len(BASE_DIMENSIONS))
            exps = list(exponents)
        for name, power in named.items():
            try:
                exps[BASE_DIMENSIONS.index(name)] += power
            except ValueError:
                raise ValueError("unknown base dimension %r" % name) from None
        object.__setattr__(self, "exponents", tuple(exps))

    def __setattr__(self, name, value):
        raise AttributeError("Dimension is immutable")

    @property
    def is_dimensionless(self):
        return not any(self.exponents)

    def __mul__(self, other):
        return Dimension([a + b for a, b in zip(self.exponents, other.exponents)])

    def __truediv__(self, other):
        return Dimension([a - b for a, b in zip(self.exponents, other.exponents)])

    def __pow__(self, power):
        return Dimension([a * power for a in self.exponents])

    def __eq__(self, other):
        return isinstance(other, Dimension) and self.exponents == other.exponents

    def __hash__(self):
        return hash(self.exponents)

    def __str__(self):
        parts = []
        for sym, exp in zip(_SYMBOLS, self.exponents):
            if exp == 1:
                parts.append(sym)
            elif exp:
                parts.append("%s^%d" % (sym, exp))
        return "·".join(parts) or "1"

    def __repr__(self):
        return "Dimension(%s)" % self


DIMENSIONLESS = Dimension()
LENGTH = Dimension(length=1)
MASS = Dimension(mass=1)
TIME = Dimension(time=1)
TEMPERATURE = Dimension(temperature=1)
CURRENT = Dimension(current=1)
AMOUNT = Dimension(amount=1)
