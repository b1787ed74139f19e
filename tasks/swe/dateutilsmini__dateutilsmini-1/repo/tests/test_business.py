import datetime

from dateutilsmini import (add_business_days, business_day_range, business_days_between,
                           business_days_in_month, is_business_day, next_business_day,
                           previous_business_day, roll_backward, roll_forward)

D = datetime.date
MON, WED, THU, FRI, SAT, SUN = D(2024, 3, 4), D(2024, 3, 6), D(2024, 3, 7), D(2024, 3, 8), \
    D(2024, 3, 9), D(2024, 3, 10)
GOOD_FRIDAY = D(2024, 3, 29)


def test_is_business_day():
    assert is_business_day(MON)
    assert not is_business_day(SAT)
    assert not is_business_day(SUN)
    assert not is_business_day(GOOD_FRIDAY, holidays=[GOOD_FRIDAY])


def test_next_and_previous_business_day():
    assert next_business_day(FRI) == D(2024, 3, 11)
    assert next_business_day(SAT) == D(2024, 3, 11)
    assert previous_business_day(MON) == D(2024, 3, 1)
    assert next_business_day(D(2024, 3, 28), holidays={GOOD_FRIDAY}) == D(2024, 4, 1)


def test_roll_forward_and_backward():
    assert roll_forward(WED) == WED
    assert roll_forward(SUN) == D(2024, 3, 11)
    assert roll_backward(SUN) == FRI


def test_add_business_days():
    assert add_business_days(MON, 0) == MON
    assert add_business_days(MON, 4) == FRI
    assert add_business_days(FRI, 1) == D(2024, 3, 11)
    assert add_business_days(SAT, 1) == D(2024, 3, 11)
    assert add_business_days(MON, 10) == D(2024, 3, 18)
    assert add_business_days(MON, -1) == D(2024, 3, 1)
    assert add_business_days(D(2024, 3, 28), 1, holidays=[GOOD_FRIDAY]) == D(2024, 4, 1)


def test_business_days_between_within_a_week():
    assert business_days_between(MON, MON) == 0
    assert business_days_between(MON, FRI) == 4
    assert business_days_between(MON, SAT) == 5
    assert business_days_between(WED, SAT) == 3


def test_business_days_between_whole_weeks():
    assert business_days_between(MON, D(2024, 3, 11)) == 5
    assert business_days_between(SAT, D(2024, 3, 16)) == 5
    assert business_days_between(MON, D(2024, 4, 1)) == 20
    assert business_days_between(MON, D(2024, 4, 1), holidays=[GOOD_FRIDAY, SAT]) == 19


def test_business_days_between_reversed_is_negative():
    assert business_days_between(FRI, MON) == -4


def test_business_days_in_month():
    assert business_days_in_month(2024, 3) == 21
    assert business_days_in_month(2024, 2) == 21
    assert business_days_in_month(2024, 3, holidays=[GOOD_FRIDAY]) == 20


def test_business_day_range():
    assert business_day_range(THU, D(2024, 3, 12)) == [THU, FRI, D(2024, 3, 11)]
    assert business_day_range(SAT, D(2024, 3, 11)) == []
