import pytest

from unitconv import DimensionalityError, UndefinedUnitError, UnitError, convert, default_registry


def test_length():
    assert convert(1, "km", "m") == pytest.approx(1000)
    assert convert(5, "mi", "km") == pytest.approx(8.04672)
    assert convert(12, "in", "ft") == pytest.approx(1)
    assert convert(3, "feet", "yard") == pytest.approx(1)


def test_mass_and_time():
    assert convert(1, "lb", "kg") == pytest.approx(0.45359237)
    assert convert(16, "oz", "lb") == pytest.approx(1)
    assert convert(2, "t", "kg") == pytest.approx(2000)
    assert convert(90, "min", "h") == pytest.approx(1.5)
    assert convert(1, "day", "s") == pytest.approx(86400)


def test_prefixes():
    assert convert(1500, "mm", "m") == pytest.approx(1.5)
    assert convert(250, "ms", "s") == pytest.approx(0.25)
    assert convert(3, "kPa", "Pa") == pytest.approx(3000)
    assert convert(2, "µs", "ns") == pytest.approx(2000)
    assert "mm" in default_registry
    assert "qm" not in default_registry


def test_compound_speed():
    assert convert(100, "km/h", "m/s") == pytest.approx(27.7777777778)
    assert convert(1, "kn", "km/h") == pytest.approx(1.852)
    assert convert(60, "mph", "km/h") == pytest.approx(96.56064)


def test_derived_units():
    assert convert(1, "N", "kg*m/s^2") == pytest.approx(1)
    assert convert(1, "kJ", "W*h") == pytest.approx(1 / 3.6)
    assert convert(1, "L", "cm^3") == pytest.approx(1000)
    assert convert(9.81, "m/s/s", "m/s^2") == pytest.approx(9.81)
    assert convert(1, "kg*(m/s)^2", "J") == pytest.approx(1)


def test_celsius_kelvin():
    assert convert(0, "degC", "K") == pytest.approx(273.15)
    assert convert(300, "K", "celsius") == pytest.approx(26.85)
    assert convert(-273.15, "°C", "kelvin") == pytest.approx(0, abs=1e-9)


def test_to_fahrenheit():
    assert convert(100, "degC", "degF") == pytest.approx(212)
    assert convert(-40, "degC", "degF") == pytest.approx(-40)
    assert convert(0, "K", "degF") == pytest.approx(-459.67)
    assert convert(491.67, "degR", "degF") == pytest.approx(32)


def test_rankine_kelvin():
    assert convert(100, "K", "degR") == pytest.approx(180)
    assert convert(180, "rankine", "K") == pytest.approx(100)


def test_incompatible_units():
    with pytest.raises(DimensionalityError) as info:
        convert(1, "m", "s")
    assert "cannot convert" in str(info.value)
    with pytest.raises(ValueError):
        convert(1, "km/h", "m/s^2")


def test_undefined_unit():
    with pytest.raises(UndefinedUnitError) as info:
        convert(1, "furlong", "m")
    assert info.value.name == "furlong"


def test_offset_units_cannot_be_combined():
    with pytest.raises(UnitError):
        convert(1, "degC/s", "K/s")


def test_conversion_factor():
    assert default_registry.conversion_factor("km", "m") == pytest.approx(1000)
    with pytest.raises(UnitError):
        default_registry.conversion_factor("degC", "K")
