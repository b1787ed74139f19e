"""Metrics, named and called as OSWorld's: ``metric(result, expected, **options) -> float`` in [0, 1].

When the evaluator has no ``expected``, the metric is called as ``metric(result, **options)``. A ``None``
result (the getter found nothing) scores 0 in every metric. Implemented: ``exact_match``,
``check_include_exclude``, ``is_in_list``, ``match_in_list``, ``literal_match``, ``fuzzy_match``,
``check_direct_json_object``, ``is_expected_active_tab``, ``is_expected_tabs``,
``is_expected_url_pattern_match``, ``compare_urls``, ``compare_text_file``, ``check_list``, ``compare_table``
(openpyxl: ``sheet_data`` and ``check_cell`` rules), and ``infeasible`` (handled by the evaluator).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from claw_envs.core.errors import TaskError


def _rules_expected(rules: Any) -> Any:
    return rules.get("expected") if isinstance(rules, dict) else rules


def exact_match(result: Any, rules: Any) -> float:
    return float(result is not None and result == _rules_expected(rules))


def check_include_exclude(result: Any, rules: dict) -> float:
    if result is None:
        return 0.0
    text = str(result)
    return float(all(s in text for s in rules.get("include", [])) and not any(s in text for s in rules.get("exclude", [])))


def is_in_list(result: Any, rules: Any) -> float:
    """The expected value occurs in the result (a list or a string)."""
    return float(result is not None and _rules_expected(rules) in result)


def match_in_list(result: Any, rules: Any) -> float:
    """The result is one of the expected values."""
    return float(result is not None and result in _rules_expected(rules))


def literal_match(result: Any, expected: Any, **options: Any) -> float:
    if result is None:
        return 0.0
    if options.get("ignore_case"):
        return float(str(result).lower() == str(expected).lower())
    return float(result == expected)


def fuzzy_match(result: Any, rules: Any) -> float:
    if result is None:
        return 0.0
    return difflib.SequenceMatcher(None, str(result), str(_rules_expected(rules))).ratio()


def check_direct_json_object(result: Any, rules: dict, **options: Any) -> float:
    """Every key of ``rules["expected"]`` has that value in the result (a dict). ``expect_in_result``: the
    expected text only has to occur in the result's; ``ignore_list_order``: lists compare as multisets."""
    if not isinstance(result, dict):
        return 0.0
    exp = rules.get("expected", {})

    def same(got: Any, want: Any) -> bool:
        if rules.get("expect_in_result") and isinstance(got, str) and isinstance(want, str):
            return want in got
        if rules.get("ignore_list_order") and isinstance(got, list) and isinstance(want, list):
            return sorted(map(str, got)) == sorted(map(str, want))
        return got == want

    return float(all(same(result.get(k), v) for k, v in exp.items()))


def is_expected_active_tab(active_tab_info: Any, rule: dict) -> float:
    if not isinstance(active_tab_info, dict):
        return 0.0
    if rule.get("type", "url") != "url":
        raise TaskError(f"is_expected_active_tab: unsupported rule type {rule.get('type')!r} (use 'url')")
    return float(active_tab_info.get("url") == rule["url"])


def _norm_url(url: Any) -> tuple:
    u = urlsplit(str(url))
    return (u.scheme, u.netloc, u.path.rstrip("/"), tuple(sorted(parse_qsl(u.query))))


def is_expected_tabs(open_tabs: Any, rule: dict) -> float:
    """The open tabs' URLs are exactly ``rule["urls"]`` (any order; a trailing ``/`` and the order of query
    parameters do not matter, as in ``compare_urls``)."""
    if not isinstance(open_tabs, list):
        return 0.0
    return float(sorted(_norm_url(t.get("url")) for t in open_tabs) == sorted(_norm_url(u) for u in rule.get("urls", [])))


def is_expected_url_pattern_match(result: Any, rules: dict) -> float:
    """Every regex in ``rules["expected"]`` matches the URL (``result`` is a URL or ``{"url": ...}``)."""
    if result is None:
        return 0.0
    url = result.get("url", "") if isinstance(result, dict) else str(result)
    return float(all(re.search(p, url) for p in rules.get("expected", [])))


def compare_urls(url1: Any, url2: Any, **options: Any) -> float:
    """Same scheme/host/path (trailing slash ignored) and the same query parameters in any order."""
    if not url1 or not url2:
        return 0.0
    a, b = urlsplit(str(url1)), urlsplit(str(url2))
    return float((a.scheme, a.netloc, a.path.rstrip("/")) == (b.scheme, b.netloc, b.path.rstrip("/"))
                 and sorted(parse_qsl(a.query)) == sorted(parse_qsl(b.query)))


def _read_text(path: Any) -> str | None:
    if not path or not Path(str(path)).is_file():
        return None
    return Path(str(path)).read_text(errors="replace")


def compare_text_file(file1: Any, file2: Any, **options: Any) -> float:
    a, b = _read_text(file1), _read_text(file2)
    if a is None or b is None:
        return 0.0
    if options.get("ignore_blanks"):
        a, b = re.sub(r"\s+", " ", a).strip(), re.sub(r"\s+", " ", b).strip()
    if options.get("ignore_case"):
        a, b = a.lower(), b.lower()
    return float(a == b)


def check_list(result: Any, rules: dict) -> float:
    """Each ``expect`` regex matches some line of the file and no ``unexpect`` regex matches any line."""
    text = _read_text(result)
    if text is None:
        return 0.0
    lines = text.splitlines()
    ok = all(any(re.search(p, ln) for ln in lines) for p in rules.get("expect", []))
    return float(ok and not any(re.search(p, ln) for p in rules.get("unexpect", []) for ln in lines))


# -- spreadsheets ------------------------------------------------------------------------------------
def _book(path: Any):
    import openpyxl
    if not path or not Path(str(path)).is_file():
        return None
    try:
        return openpyxl.load_workbook(str(path), data_only=True)
    except Exception:  # noqa: BLE001 - not a workbook: the agent produced a broken file
        return None


def _sheet(idx: str | int, result_book, expected_book):
    """OSWorld's sheet addressing: ``RI0``/``EI0`` (result/expected by index), ``RNname``/``ENname``, or an int."""
    if isinstance(idx, int):
        return result_book.worksheets[idx] if idx < len(result_book.worksheets) else None
    book = result_book if idx[0] == "R" else expected_book
    if book is None:
        return None
    if idx[1] == "I":
        i = int(idx[2:])
        return book.worksheets[i] if i < len(book.worksheets) else None
    return book[idx[2:]] if idx[2:] in book.sheetnames else None


def _values(ws) -> list[tuple]:
    rows = [tuple(c for c in r) for r in ws.iter_rows(values_only=True)]
    while rows and all(v is None for v in rows[-1]):
        rows.pop()
    return rows


def _cell_ok(value: Any, prop: dict) -> bool:
    method, ref = prop.get("method", "eq"), prop.get("ref")
    if method == "eq":
        return value == ref
    if method == "approx":
        return isinstance(value, int | float) and abs(float(value) - float(ref)) <= float(prop.get("tol", 1e-6))
    if method == "str_eq":
        return str(value) == str(ref)
    if method == "re":
        return value is not None and re.search(str(ref), str(value)) is not None
    raise TaskError(f"compare_table check_cell: unsupported method {method!r} (eq, approx, str_eq, re)")


def compare_table(result: Any, expected: Any = None, **options: Any) -> float:
    """Compare a result workbook with rules (OSWorld's ``compare_table``; openpyxl, values not formulas)."""
    rules = options.get("rules") or [{"type": "sheet_data", "sheet_idx0": "RI0", "sheet_idx1": "EI0"}]
    unknown = [r["type"] for r in rules if r["type"] not in ("sheet_data", "check_cell")]
    if unknown:  # checked first, so a task is never scored on part of its rules
        from claw_envs.gui.osworld import Unsupported
        raise Unsupported(f"compare_table: rule type {unknown[0]!r} is not implemented here (sheet_data, "
                          "check_cell are)", "metric", f"compare_table:{unknown[0]}")
    rb = _book(result)
    if rb is None:
        return 0.0
    eb = _book(expected) if expected is not None else None
    if expected is not None and eb is None:
        return 0.0
    for r in rules:
        if r["type"] == "sheet_data":
            a, b = _sheet(r["sheet_idx0"], rb, eb), _sheet(r["sheet_idx1"], rb, eb)
            if a is None or b is None or _values(a) != _values(b):
                return 0.0
        elif r["type"] == "check_cell":
            ws = _sheet(r.get("sheet_idx", 0), rb, eb)
            if ws is None:
                return 0.0
            value = ws[r["coordinate"]].value
            if not all(_cell_ok(value, prop) for prop in (r.get("props") or {}).values()):
                return 0.0
    return 1.0


def infeasible(*_: Any, **__: Any) -> float:
    """Placeholder: the evaluator scores ``infeasible`` tasks by the last action (FAIL → 1)."""
    return 0.0


def _metric_tables() -> list[dict[str, Any]]:
    from claw_envs.gui import (
        metrics_apps,
        metrics_docs,
        metrics_files,
        metrics_media,
        metrics_office,
        metrics_osworld,
    )
    return [globals(), vars(metrics_osworld), vars(metrics_files), vars(metrics_apps), vars(metrics_office),
            vars(metrics_media), vars(metrics_docs)]


def _is_metric(name: str, fn: Any, table: dict) -> bool:
    return (callable(fn) and not name.startswith("_") and not isinstance(fn, type) and name != "metric"
            and getattr(fn, "__module__", None) == table.get("__name__"))


def metric(name: str):
    """The metric called ``name`` (here, ``metrics_osworld`` or ``metrics_files``); ``Unsupported`` when unknown."""
    from claw_envs.gui.metrics_apps import UNSUPPORTED_METRICS
    if name in UNSUPPORTED_METRICS:
        from claw_envs.gui.osworld import Unsupported
        raise Unsupported(f"metric {name!r} cannot be computed here: {UNSUPPORTED_METRICS[name]}", "metric", name)
    tables = _metric_tables()
    fn = next((t[name] for t in tables if _is_metric(name, t.get(name), t)), None)
    if fn is None:
        known = sorted(k for t in tables for k, v in t.items() if _is_metric(k, v, t))
        from claw_envs.gui.osworld import Unsupported
        raise Unsupported(f"unknown metric {name!r}; known here: {', '.join(known)}", "metric", name)
    return fn
