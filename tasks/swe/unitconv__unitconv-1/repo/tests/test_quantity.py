import pytest

from unitconv import DimensionalityError, Quantity, UnitError


def test_to():
    q = Quantity(3, "km").to("m")
    assert q.value == pytest.approx(3000)
    assert q.unit.name == "m"


def test_add_and_subtract_convert_units():
    total = Quantity(1, "km") + Quantity(500, "m")
    assert total.value == pytest.approx(1.5)
    assert total.unit.name == "km"
    assert (Quantity(1, "h") - Quantity(30, "min")).value == pytest.approx(0.5)


def test_add_incompatible():
    with pytest.raises(DimensionalityError):
        Quantity(1, "m") + Quantity(1, "s")
    with pytest.raises(TypeError):
        Quantity(1, "m") + 1


def test_multiply_and_divide():
    speed = Quantity(100, "km") / Quantity(2, "h")
    assert speed.to("km/h").value == pytest.approx(50)
    work = Quantity(2, "N") * Quantity(3, "m")
    assert work.to("J").value == pytest.approx(6)
    assert (Quantity(2, "m") * 3).value == 6
    assert (3 * Quantity(2, "m")).value == 6


def test_equality_and_ordering():
    assert Quantity(1, "km") == Quantity(1000, "m")
    assert Quantity(1, "km") != Quantity(1, "m")
    assert Quantity(1, "m") != Quantity(1, "s")
    assert Quantity(1, "ft") < Quantity(1, "m")
    assert Quantity(1, "m") <= Quantity(100, "cm")


def test_offset_quantities():
    with pytest.raises(UnitError):
        Quantity(1, "degC") + Quantity(1, "degC")
    with pytest.raises(UnitError):
        Quantity(1, "degC") * Quantity(1, "m")
    assert Quantity(20, "degC").to("degF").value == pytest.approx(68)


def test_str_and_repr():
    assert str(Quantity(2.5, "km/h")) == "2.5 km/h"
    assert repr(Quantity(1, "m")) == "Quantity(1, 'm')"
