"""unitconv - convert between physical units.

>>> from unitconv import convert
>>> convert(100, "km/h", "m/s")
27.77777777777778
>>> convert(2.5, "mi", "km")
4.02336
"""

from .dimensions import Dimension
from .errors import DimensionalityError, UndefinedUnitError, UnitError
from .quantity import Quantity
from .registry import Unit, UnitRegistry, default_registry

__version__ = "1.0.0"


def convert(value, from_unit, to_unit, registry=None):
    """Convert *value* expressed in *from_unit* to *to_unit*."""
    reg = registry or default_registry
    return reg.convert(value, from_unit, to_unit)


__all__ = [
    "Dimension",
    "DimensionalityError",
    "Quantity",
    "UndefinedUnitError",
    "Unit",
    "UnitError",
    "UnitRegistry",
    "convert",
    "default_registry",
]
