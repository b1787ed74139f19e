"""Column type inference and value conversion."""

import datetime
import re

INT = "int"
FLOAT = "float"
BOOL = "bool"
DATE = "date"
STR = "str"

TYPES = (INT, FLOAT, BOOL, DATE, STR)

MISSING = frozenset({"", "na", "n/a", "null", "none", "-"})
TRUE_WORDS = frozenset({"true", "yes", "t", "y"})
FALSE_WORDS = frozenset({"false", "no", "f", "n"})

_FLOAT_RE = re.compile(r"^[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def is_missing(value):
    return value is None or value.strip().lower() in MISSING


def _is_int(text):
    return text.isdigit()


def _is_float(text):
    return bool(_FLOAT_RE.match(text))


def _is_bool(text):
    return text.lower() in TRUE_WORDS or text.lower() in FALSE_WORDS


def _is_date(text):
    if not _DATE_RE.match(text):
        return False
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def value_type(text):
    """The narrowest type that ``text`` (not missing) can be read as."""
    text = text.strip()
    if _is_int(text):
        return INT
    if _is_float(text):
        return FLOAT
    if _is_bool(text):
        return BOOL
    if _is_date(text):
        return DATE
    return STR


def infer_type(values):
    """Infer one type for a column of raw strings.

    Missing values are ignored.  A column mixing ints and floats is FLOAT;
    any other mixture is STR.  A column with no values at all is STR.
    """
    seen = set()
    for value in values:
        if is_missing(value):
            continue
        seen.add(value_type(value))
        if STR in seen:
            return STR
    if not seen:
        return STR
    if seen == {INT}:
        return INT
    if seen <= {INT, FLOAT}:
        return FLOAT
    if len(seen) == 1:
        return seen.pop()
    return STR


def convert(value, type):
    """Convert the raw string ``value`` to ``type``; missing values -> None."""
    if value is None:
        return None
    if type == STR:
        return value
    if is_missing(value):
        return None
    text = value.strip()
    if type == INT:
        return int(text)
    if type == FLOAT:
        return float(text)
    if type == BOOL:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise ValueError("not a boolean: %r" % (value,))
    if type == DATE:
        return datetime.date.fromisoformat(text)
    raise ValueError("unknown type: %r" % (type,))


def format_value(value):
    """The CSV text for a converted value (inverse of :func:`convert`)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)
