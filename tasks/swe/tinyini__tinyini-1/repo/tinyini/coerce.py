"""Helpers that turn raw INI string values into Python values."""

import re

from .errors import CoercionError

TRUE_WORDS = frozenset({"1", "yes", "true", "on", "y", "enabled"})
FALSE_WORDS = frozenset({"0", "no", "false", "off", "n", "disabled"})

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_DURATION_FACTORS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def to_bool(value):
    """Interpret ``value`` as a boolean (yes/no, on/off, true/false, 1/0...)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CoercionError("not a boolean: %r" % (value,))


def to_int(value):
    """Interpret ``value`` as an integer.

    Accepts an optional sign, ``_`` digit separators and ``0x``/``0o``/``0b``
    prefixes.
    """
    if isinstance(value, bool):
        raise CoercionError("not an integer: %r" % (value,))
    if isinstance(value, int):
        return value
    text = str(value).strip().replace("_", "")
    try:
        return int(text, 0)
    except ValueError:
        pass
    try:
        # int(..., 0) rejects leading zeros such as "007"
        return int(text, 10)
    except ValueError:
        raise CoercionError("not an integer: %r" % (value,)) from None


def to_float(value):
    """Interpret ``value`` as a float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip().replace("_", ""))
    except ValueError:
        raise CoercionError("not a number: %r" % (value,)) from None


def to_list(value, separator=","):
    """Split ``value`` on ``separator`` (or on newlines), dropping blanks."""
    if isinstance(value, (list, tuple)):
        return list(value)
    items = []
    for line in str(value).splitlines():
        for part in line.split(separator):
            part = part.strip()
            if part:
                items.append(part)
    return items


def to_duration(value):
    """Interpret ``value`` such as ``"250ms"``, ``"30s"``, ``"5m"`` or ``"2h"``
    as a number of seconds (a float).  A bare number means seconds."""
    match = _DURATION_RE.match(str(value))
    if not match:
        raise CoercionError("not a duration: %r" % (value,))
    number, unit = match.groups()
    factor = _DURATION_FACTORS[(unit or "s").lower()]
    return float(number) * factor
