"""OSWorld's ``rule_relativeTime`` getter: expected values that name dates relative to today.

``{"relativeTime": {"from": PHRASE, "to": PHRASE?}, "expected": {key: template}, "timezone": TZ?}`` →
``{key: text}``. Phrases: ``today``, ``tomorrow``, ``this month``, ``next <Weekday>``, ``next week
<Weekday>``, ``<N>th next month``, ``first <weekday> <N> months later`` (words or digits), each optionally
followed by ``split``. Templates use ``{Year}``, ``{Month}`` (Jan), ``{MonthFull}`` (January), ``{month}``
(january), ``{Month0D}`` (01), ``{MonthD}`` (1), ``{Day0D}`` (05), ``{DayD}`` (5), ``{DoW}`` (Mon). With a
``to`` date, keys starting ``to``/``do``/``end``/``check out`` use it; the others use ``from``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from claw_envs.core.errors import TaskError

_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_NUMS = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                      "nine", "ten", "eleven", "twelve"])}


def _add_months(d: dt.date, n: int, day: int = 1) -> dt.date:
    m = d.month - 1 + n
    return dt.date(d.year + m // 12, m % 12 + 1, day)


def resolve(phrase: str, today: dt.date) -> dt.date:
    """The date a phrase names (see the module docstring); ``TaskError`` for phrases not known here."""
    p = phrase.lower().replace(" split", "").strip()
    if p in ("today", "this month"):
        return today
    if p == "tomorrow":
        return today + dt.timedelta(days=1)
    m = re.fullmatch(r"next week (\w+)", p)
    if m and m.group(1) in _DAYS:
        monday = today + dt.timedelta(days=7 - today.weekday())
        return monday + dt.timedelta(days=_DAYS.index(m.group(1)))
    m = re.fullmatch(r"next (\w+)", p)
    if m and m.group(1) in _DAYS:
        ahead = (_DAYS.index(m.group(1)) - today.weekday()) % 7 or 7
        return today + dt.timedelta(days=ahead)
    m = re.fullmatch(r"(\d+)(st|nd|rd|th) next month", p)
    if m:
        return _add_months(today, 1, int(m.group(1)))
    m = re.fullmatch(r"first (\w+) (\w+) months? later", p)
    if m and m.group(1) in _DAYS:
        n = int(m.group(2)) if m.group(2).isdigit() else _NUMS.get(m.group(2), -1)
        if n >= 0:
            first = _add_months(today, n, 1)
            return first + dt.timedelta(days=(_DAYS.index(m.group(1)) - first.weekday()) % 7)
    from claw_envs.gui.osworld import Unsupported
    raise Unsupported(f"rule_relativeTime: phrase {phrase!r} is not known here", "getter", "rule_relativeTime")


def render(template: str, d: dt.date) -> str:
    table = {"{Year}": str(d.year), "{MonthFull}": d.strftime("%B"), "{Month0D}": f"{d.month:02d}",
             "{MonthD}": str(d.month), "{Month}": d.strftime("%b"), "{month}": d.strftime("%B").lower(),
             "{Day0D}": f"{d.day:02d}", "{DayD}": str(d.day), "{DoW}": d.strftime("%a")}
    for k, v in table.items():
        template = template.replace(k, v)
    return template


def get_rule_relativeTime(env: Any, config: dict) -> dict:  # noqa: N802 - OSWorld's name
    rules = config.get("rules") or {}
    rel = rules.get("relativeTime") or {}
    if "from" not in rel:
        raise TaskError("rule_relativeTime needs rules.relativeTime.from")
    today = dt.date.today()
    if rules.get("timezone"):
        from zoneinfo import ZoneInfo
        today = dt.datetime.now(ZoneInfo(rules["timezone"])).date()
    start = resolve(rel["from"], today)
    end = resolve(rel["to"], today) if rel.get("to") else None
    if end is not None and end < start:
        end += dt.timedelta(days=7)
    out = {}
    for key, tpl in (rules.get("expected") or {}).items():
        use_end = end is not None and key.lower().startswith(("to", "do", "end", "check out", "checkout"))
        out[key] = render(str(tpl), end if use_end else start) if isinstance(tpl, str) else tpl
    return {**{k: v for k, v in rules.items() if k not in ("relativeTime", "expected", "timezone")}, "expected": out}
