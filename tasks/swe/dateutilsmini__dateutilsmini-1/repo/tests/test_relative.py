import datetime

import pytest

from dateutilsmini import parse_relative

D = datetime.date
TODAY = D(2024, 3, 6)  # a Wednesday


def p(text, **kwargs):
    return parse_relative(text, today=TODAY, **kwargs)


def test_simple_words():
    assert p("today") == TODAY
    assert p("Tomorrow") == D(2024, 3, 7)
    assert p("yesterday") == D(2024, 3, 5)
    assert p("the day after tomorrow") == D(2024, 3, 8)
    assert p("2024-12-25") == D(2024, 12, 25)


def test_weekdays():
    assert p("next friday") == D(2024, 3, 8)
    assert p("friday") == D(2024, 3, 8)
    assert p("next wednesday") == D(2024, 3, 13)
    assert p("wednesday") == TODAY
    assert p("last friday") == D(2024, 3, 1)
    assert p("last wed") == D(2024, 2, 28)
    assert p("this monday") == D(2024, 3, 4)
    assert p("this  Sunday ") == D(2024, 3, 10)


def test_in_and_ago():
    assert p("in 3 days") == D(2024, 3, 9)
    assert p("in two weeks") == D(2024, 3, 20)
    assert p("3 months ago") == D(2023, 12, 6)
    assert p("a year from now") == D(2025, 3, 6)
    assert p("1 day later") == D(2024, 3, 7)


def test_business_days():
    assert p("in 5 business days") == D(2024, 3, 13)
    assert p("in 3 weekdays") == D(2024, 3, 11)
    assert p("2 business days ago") == D(2024, 3, 4)
    assert p("in 1 business day", holidays=[D(2024, 3, 7)]) == D(2024, 3, 8)


def test_periods_and_edges():
    assert p("next week") == D(2024, 3, 11)
    assert p("last week") == D(2024, 2, 26)
    assert p("next month") == D(2024, 4, 1)
    assert p("this year") == D(2024, 1, 1)
    assert p("end of month") == D(2024, 3, 31)
    assert p("end of last month") == D(2024, 2, 29)
    assert p("start of next year") == D(2025, 1, 1)


def test_month_end_clamping_in_expressions():
    assert parse_relative("in 1 month", today=D(2024, 1, 31)) == D(2024, 2, 29)


def test_unknown_expressions_raise():
    for text in ("", "next blursday", "in many days", "soonish", "in 3 fortnights"):
        with pytest.raises(ValueError):
            p(text)
