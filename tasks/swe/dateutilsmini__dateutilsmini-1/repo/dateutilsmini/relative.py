"""Parse relative date expressions: "next friday", "in 3 days", "2 weeks ago"..."""

import datetime
import re

from .business import add_business_days
from .months import add_months, end_of_month, start_of_month

WEEKDAYS = {
    "monday": 0, "mon": 0, "tuesday": 1, "tue": 1, "tues": 1, "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3, "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5, "sunday": 6, "sun": 6,
}

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}

_UNIT = r"(?P<unit>business days?|weekdays?|days?|weeks?|months?|years?)"
_IN_RE = re.compile(r"^in (?P<n>\w+) %s$" % _UNIT)
_AGO_RE = re.compile(r"^(?P<n>\w+) %s (?P<direction>ago|from now|later)$" % _UNIT)
_WEEKDAY_RE = re.compile(r"^(?:(?P<which>next|last|this) )?(?P<day>[a-z]+)$")
_PERIOD_RE = re.compile(r"^(?P<which>next|last|this) (?P<period>week|month|year)$")
_EDGE_RE = re.compile(r"^(?P<edge>start|end) of (?:(?P<which>next|last|this) )?(?P<period>month|year)$")
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

_SIMPLE = {"today": 0, "now": 0, "tomorrow": 1, "yesterday": -1,
           "day after tomorrow": 2, "the day after tomorrow": 2,
           "day before yesterday": -2, "the day before yesterday": -2}

_OFFSETS = {"next": 1, "last": -1, "this": 0}


def _number(word):
    if word.isdigit():
        return int(word)
    try:
        return NUMBER_WORDS[word]
    except KeyError:
        raise ValueError("not a number: %r" % (word,)) from None


def _unit_name(unit):
    if unit.startswith(("business", "weekday")):
        return "business_days"
    return unit if unit.endswith("s") else unit + "s"


def shift(day, n, unit, holidays=()):
    """Move ``day`` by ``n`` units: days, weeks, months, years or business_days."""
    if unit == "days":
        return day + datetime.timedelta(days=n)
    if unit == "weeks":
        return day + datetime.timedelta(weeks=n)
    if unit == "months":
        return add_months(day, n)
    if unit == "years":
        return add_months(day, 12 * n)
    if unit == "business_days":
        return add_business_days(day, n, holidays)
    raise ValueError("unknown unit: %r" % (unit,))


def next_weekday(day, weekday):
    """The first ``weekday`` (0=Monday) strictly after ``day``."""
    return day + datetime.timedelta(days=(weekday - day.weekday() - 1) % 7 + 1)


def previous_weekday(day, weekday):
    """The last ``weekday`` strictly before ``day``."""
    return day - datetime.timedelta(days=(day.weekday() - weekday - 1) % 7 + 1)


def weekday_this_week(day, weekday):
    """``weekday`` in the Monday-to-Sunday week that contains ``day``."""
    return day + datetime.timedelta(days=weekday - day.weekday())


def parse_relative(text, today=None, holidays=()):
    """Turn an English relative expression into a :class:`datetime.date`.

    Understood forms (case and extra spaces do not matter):

    * ``today``, ``tomorrow``, ``yesterday``, ``day after tomorrow``...
    * ``friday`` (today or the next Friday), ``next friday`` (strictly
      after today), ``last friday`` (strictly before), ``this friday`` (in
      the current Monday-Sunday week)
    * ``next week`` / ``last month`` / ``this year`` -> first day of it
    * ``start of next month``, ``end of month``, ``end of last year``
    * ``in 3 days``, ``in two weeks``, ``in 5 business days``,
      ``3 months ago``, ``a year from now``
    * an ISO date ``2024-03-01``
    """
    today = today or datetime.date.today()
    phrase = " ".join(text.lower().split())
    if phrase in _SIMPLE:
        return today + datetime.timedelta(days=_SIMPLE[phrase])
    if _ISO_RE.match(phrase):
        return datetime.date.fromisoformat(phrase)

    match = _IN_RE.match(phrase)
    if match:
        return shift(today, _number(match.group("n")), _unit_name(match.group("unit")), holidays)
    match = _AGO_RE.match(phrase)
    if match:
        n = _number(match.group("n"))
        if match.group("direction") == "ago":
            n = -n
        return shift(today, n, _unit_name(match.group("unit")), holidays)

    match = _PERIOD_RE.match(phrase)
    if match:
        offset = _OFFSETS[match.group("which")]
        period = match.group("period")
        if period == "week":
            monday = weekday_this_week(today, 0)
            return monday + datetime.timedelta(weeks=offset)
        if period == "month":
            return add_months(start_of_month(today), offset)
        return datetime.date(today.year + offset, 1, 1)

    match = _EDGE_RE.match(phrase)
    if match:
        offset = _OFFSETS[match.group("which") or "this"]
        start_edge = match.group("edge") == "start"
        if match.group("period") == "month":
            first = add_months(start_of_month(today), offset)
            return first if start_edge else end_of_month(first)
        year = today.year + offset
        return datetime.date(year, 1, 1) if start_edge else datetime.date(year, 12, 31)

    match = _WEEKDAY_RE.match(phrase)
    if match and match.group("day") in WEEKDAYS:
        weekday = WEEKDAYS[match.group("day")]
        which = match.group("which")
        if which == "next":
            return next_weekday(today, weekday)
        if which == "last":
            return previous_weekday(today, weekday)
        if which == "this":
            return weekday_this_week(today, weekday)
        return today if today.weekday() == weekday else next_weekday(today, weekday)

    raise ValueError("cannot understand date expression: %r" % (text,))
