import pytest

from unitconv import Dimension, UnitError, UnitRegistry, convert
from unitconv import dimensions as dims


def test_dimension_algebra():
    speed = dims.LENGTH / dims.TIME
    assert speed == Dimension(length=1, time=-1)
    assert (speed * dims.TIME) == dims.LENGTH
    assert dims.LENGTH ** 3 == Dimension(length=3)
    assert str(dims.MASS * dims.LENGTH / dims.TIME ** 2) == "L·M·T^-2"
    assert (dims.LENGTH / dims.LENGTH).is_dimensionless


def test_dimension_is_immutable():
    with pytest.raises(AttributeError):
        dims.LENGTH.exponents = (0,) * 6
    with pytest.raises(ValueError):
        Dimension(colour=1)


def test_parse_compound():
    reg = UnitRegistry()
    u = reg.parse("kg*m/s^2")
    assert u.dimension == Dimension(mass=1, length=1, time=-2)
    assert u.scale == pytest.approx(1)
    assert reg.parse("kg*m/s^2") is u


def test_parse_errors():
    reg = UnitRegistry()
    for expr in ["", "m/", "(m", "m)", "m^x", "m**2", "m $"]:
        with pytest.raises(UnitError):
            reg.parse(expr)


def test_custom_registry():
    reg = UnitRegistry(populate=False)
    reg.define("cubit", 0.4572, dims.LENGTH)
    reg.define("m", 1, dims.LENGTH, prefixable=True)
    assert convert(10, "cubit", "cm", registry=reg) == pytest.approx(457.2)
    with pytest.raises(UnitError):
        reg.define("cubit", 1, dims.LENGTH)


def test_custom_offset_unit_to_absolute():
    reg = UnitRegistry()
    # Réaumur-like scale with an offset; converting *to* it works.
    reg.define("degX", 2, dims.TEMPERATURE, offset=100)
    assert reg.convert(300, "K", "degX") == pytest.approx(50)


def test_unit_repr():
    reg = UnitRegistry()
    assert "offset" in repr(reg.parse("degC"))
    assert "offset" not in repr(reg.parse("K"))
