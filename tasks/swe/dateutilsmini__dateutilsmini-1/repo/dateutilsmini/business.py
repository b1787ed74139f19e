"""Business-day arithmetic (Monday to Friday, minus optional holidays)."""

import datetime

WEEKEND = frozenset({5, 6})  # Saturday, Sunday
ONE_DAY = datetime.timedelta(days=1)


def _holiday_set(holidays):
    return holidays if isinstance(holidays, (set, frozenset)) else frozenset(holidays)


def is_business_day(day, holidays=()):
    return day.weekday() not in WEEKEND and day not in _holiday_set(holidays)


def next_business_day(day, holidays=()):
    """The first business day strictly after ``day``."""
    holidays = _holiday_set(holidays)
    day += ONE_DAY
    while not is_business_day(day, holidays):
        day += ONE_DAY
    return day


def previous_business_day(day, holidays=()):
    """The last business day strictly before ``day``."""
    holidays = _holiday_set(holidays)
    day -= ONE_DAY
    while not is_business_day(day, holidays):
        day -= ONE_DAY
    return day


def roll_forward(day, holidays=()):
    """``day`` itself if it is a business day, else the next one."""
    return day if is_business_day(day, holidays) else next_business_day(day, holidays)


def roll_backward(day, holidays=()):
    """``day`` itself if it is a business day, else the previous one."""
    return day if is_business_day(day, holidays) else previous_business_day(day, holidays)


def add_business_days(start, n, holidays=()):
    """Move ``n`` business days from ``start`` (backwards when ``n < 0``).

    ``start`` itself is never counted, so adding 1 to a Friday gives the
    following Monday and adding 1 to a Saturday also gives that Monday.
    Adding 0 returns ``start`` unchanged.
    """
    holidays = _holiday_set(holidays)
    step = ONE_DAY if n >= 0 else -ONE_DAY
    remaining = abs(n)
    day = start
    while remaining:
        day += step
        if is_business_day(day, holidays):
            remaining -= 1
    return day


def business_days_between(start, end, holidays=()):
    """Count the business days ``d`` with ``start <= d < end``.

    Like ``numpy.busday_count``: the start date is included, the end date is
    not, and the result is negative when ``end`` is before ``start``.
    """
    if end < start:
        return -business_days_between(end, start, holidays)
    full_weeks, extra = divmod((end - start).days, 7)
    count = full_weeks * 5
    first = start.weekday()
    for offset in range(extra):
        if first + offset < 5:  # Monday..Friday
            count += 1
    for holiday in _holiday_set(holidays):
        if start <= holiday < end and holiday.weekday() not in WEEKEND:
            count -= 1
    return count


def business_days_in_month(year, month, holidays=()):
    first = datetime.date(year, month, 1)
    following = datetime.date(year + month // 12, month % 12 + 1, 1)
    return business_days_between(first, following, holidays)


def business_day_range(start, end, holidays=()):
    """The business days ``d`` with ``start <= d < end``, in order."""
    holidays = _holiday_set(holidays)
    days = []
    day = start
    while day < end:
        if is_business_day(day, holidays):
            days.append(day)
        day += ONE_DAY
    return days
