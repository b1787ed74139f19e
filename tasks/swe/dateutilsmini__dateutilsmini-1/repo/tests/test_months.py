import datetime

import pytest

from dateutilsmini import (add_months, add_years, days_in_month, end_of_month, end_of_quarter,
                           is_leap_year, month_range, months_between, quarter, start_of_month,
                           start_of_quarter)

D = datetime.date


def test_days_in_month_and_leap_years():
    assert days_in_month(2024, 2) == 29
    assert days_in_month(2023, 2) == 28
    assert days_in_month(2024, 12) == 31
    assert is_leap_year(2000) and not is_leap_year(1900)


def test_add_months_clamps_to_end_of_month():
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2023, 1, 31), 1) == D(2023, 2, 28)
    assert add_months(D(2024, 3, 31), -1) == D(2024, 2, 29)
    assert add_months(D(2024, 5, 15), 0) == D(2024, 5, 15)


def test_add_months_across_years():
    assert add_months(D(2024, 11, 30), 3) == D(2025, 2, 28)
    assert add_months(D(2024, 1, 10), -13) == D(2022, 12, 10)
    assert add_months(D(2024, 6, 1), 120) == D(2034, 6, 1)
    with pytest.raises(OverflowError):
        add_months(D(9999, 12, 1), 1)


def test_add_months_keep_end_of_month():
    assert add_months(D(2024, 2, 29), 1) == D(2024, 3, 29)
    assert add_months(D(2024, 2, 29), 1, keep_end_of_month=True) == D(2024, 3, 31)
    assert add_months(D(2024, 4, 30), 1, keep_end_of_month=True) == D(2024, 5, 31)


def test_add_years_leap_day():
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert add_years(D(2024, 2, 29), 4) == D(2028, 2, 29)


def test_months_between():
    assert months_between(D(2024, 1, 15), D(2024, 3, 15)) == 2
    assert months_between(D(2024, 1, 15), D(2024, 3, 14)) == 1
    assert months_between(D(2024, 1, 31), D(2024, 2, 29)) == 1
    assert months_between(D(2024, 3, 15), D(2024, 1, 15)) == -2


def test_month_and_quarter_edges():
    assert start_of_month(D(2024, 2, 17)) == D(2024, 2, 1)
    assert end_of_month(D(2024, 2, 17)) == D(2024, 2, 29)
    assert quarter(D(2024, 8, 1)) == 3
    assert start_of_quarter(D(2024, 8, 1)) == D(2024, 7, 1)
    assert end_of_quarter(D(2024, 11, 5)) == D(2024, 12, 31)
    assert month_range(D(2024, 11, 20), D(2025, 2, 1)) == [
        D(2024, 11, 1), D(2024, 12, 1), D(2025, 1, 1), D(2025, 2, 1)]
