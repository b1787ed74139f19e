from decimal import Decimal

import pytest

from ledgerpy import allocate, format_amount, quantize, split_evenly, to_decimal

D = Decimal


def test_to_decimal_accepts_common_inputs():
    assert to_decimal("1,234.50") == D("1234.50")
    assert to_decimal(3) == D(3)
    assert to_decimal(0.1) == D("0.1")
    with pytest.raises(ValueError):
        to_decimal("ten")
    with pytest.raises(TypeError):
        to_decimal(True)


def test_quantize_uses_bankers_rounding():
    assert quantize("2.345") == D("2.34")
    assert quantize("2.355") == D("2.36")
    assert quantize("-2.345") == D("-2.34")
    assert quantize("7", places=0) == D("7")


def test_allocate_even_split_hands_out_leftover_cents_first():
    assert allocate(D("100.00"), [1, 1, 1]) == [D("33.34"), D("33.33"), D("33.33")]
    assert allocate(D("0.05"), [1, 1, 1]) == [D("0.02"), D("0.02"), D("0.01")]


def test_allocate_by_ratio():
    assert allocate(D("10.00"), [3, 7]) == [D("3.00"), D("7.00")]
    assert allocate(D("1.00"), [1, 2, 3]) == [D("0.17"), D("0.33"), D("0.50")]
    assert allocate("99.99", ["0.5", "0.25", "0.25"]) == [D("49.99"), D("25.00"), D("25.00")]


def test_allocate_rejects_bad_ratios():
    with pytest.raises(ValueError):
        allocate(D("1.00"), [])
    with pytest.raises(ValueError):
        allocate(D("1.00"), [0, 0])
    with pytest.raises(ValueError):
        allocate(D("1.00"), [1, -1])


def test_split_evenly_and_whole_units():
    assert split_evenly(D("10"), 4) == [D("2.50")] * 4
    assert split_evenly(D("10"), 3, places=0) == [D("4"), D("3"), D("3")]
    with pytest.raises(ValueError):
        split_evenly(D("10"), 0)


def test_format_amount():
    assert format_amount(D("1234.5")) == "1,234.50"
    assert format_amount(D("-1234.5"), "$") == "($1,234.50)"
    assert format_amount(D("0")) == "0.00"
