"""Month and year arithmetic with end-of-month clamping."""

import calendar
import datetime


def is_leap_year(year):
    return calendar.isleap(year)


def days_in_month(year, month):
    return calendar.monthrange(year, month)[1]


def start_of_month(day):
    return day.replace(day=1)


def end_of_month(day):
    return day.replace(day=days_in_month(day.year, day.month))


def is_end_of_month(day):
    return day.day == days_in_month(day.year, day.month)


def add_months(day, n, keep_end_of_month=False):
    """Move ``n`` calendar months, clamping the day to the target month.

    ``2024-01-31 + 1 month`` is ``2024-02-29``.  With ``keep_end_of_month``
    a date on the last day of its month stays on the last day
    (``2024-02-29 + 1 month`` is then ``2024-03-31`` instead of ``03-29``).
    """
    index = day.year * 12 + (day.month - 1) + n
    year, month = divmod(index, 12)
    month += 1
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    last = days_in_month(year, month)
    if keep_end_of_month and is_end_of_month(day):
        return datetime.date(year, month, last)
    return datetime.date(year, month, min(day.day, last))


def add_years(day, n):
    """Move ``n`` years; February 29 becomes February 28 in common years."""
    return add_months(day, 12 * n)


def months_between(start, end):
    """Whole months from ``start`` to ``end`` (negative if ``end`` is earlier).

    A month is complete when the day of month is reached, or when ``end`` is
    the last day of its month: ``01-31 -> 02-29`` is one month.
    """
    if end < start:
        return -months_between(end, start)
    months = (end.year - start.year) * 12 + (end.month - start.month)
    if end.day < start.day and not is_end_of_month(end):
        months -= 1
    return months


def quarter(day):
    return (day.month - 1) // 3 + 1


def start_of_quarter(day):
    return datetime.date(day.year, 3 * (quarter(day) - 1) + 1, 1)


def end_of_quarter(day):
    return end_of_month(datetime.date(day.year, 3 * quarter(day), 1))


def month_range(start, end):
    """First days of the months from ``start``'s month up to ``end``'s month."""
    months = []
    current = start_of_month(start)
    while current <= end:
        months.append(current)
        current = add_months(current, 1)
    return months
