"""Answer extraction and verification: math equivalence (math-verify, else sympy), exact, numeric."""

from __future__ import annotations

import re
from fractions import Fraction

from claw_envs.core.text import last_boxed

__all__ = ["last_boxed", "verify_answer"]


def _number(s: str) -> float | None:
    s = s.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    s = re.sub(r"^\\text\{(.*)\}$", r"\1", s)
    try:
        return float(Fraction(s))
    except (ValueError, ZeroDivisionError):
        pass
    m = re.fullmatch(r"\\[dt]?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}", s)
    if m and float(m.group(2)) != 0:
        return float(m.group(1)) / float(m.group(2))
    return None


def _normalise(s: str) -> str:
    s = re.sub(r"\\text\{(.*?)\}", r"\1", s)
    return re.sub(r"\s+", " ", s.strip().strip(".").lower())


def verify_exact(pred: str, gold: str) -> bool:
    return _normalise(pred) == _normalise(gold)


def _integer(s: str) -> int | None:
    s = s.strip().replace(",", "").replace("$", "")
    return int(s) if re.fullmatch(r"-?\d+", s) else None


def verify_numeric(pred: str, gold: str, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Equal within tolerance; two integers (e.g. 1893456000, 2**100) must be exactly equal."""
    ia, ib = _integer(pred), _integer(gold)
    if ia is not None and ib is not None:
        return ia == ib
    a, b = _number(pred), _number(gold)
    if a is None or b is None:
        return False
    return abs(a - b) <= max(abs_tol, rel_tol * abs(b))


def verify_math(pred: str, gold: str) -> bool:
    """Mathematical equivalence: ``math-verify`` when installed, else sympy, else numeric."""
    ia, ib = _integer(pred), _integer(gold)
    if ia is not None and ib is not None:
        return ia == ib
    if verify_exact(pred, gold) or verify_numeric(pred, gold, rel_tol=1e-9):
        return True
    try:
        from math_verify import parse, verify

        return bool(verify(parse(f"${gold}$"), parse(f"${pred}$")))
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - unparsable answers are simply wrong
        return False
    try:
        import sympy

        return sympy.simplify(sympy.sympify(pred) - sympy.sympify(gold)) == 0
    except Exception:  # noqa: BLE001
        return False


def verify_answer(kind: str, pred: str, gold: str, tolerance: float | None = None) -> bool:
    if kind == "math":
        return verify_math(pred, gold)
    if kind == "numeric":
        return verify_numeric(pred, gold, rel_tol=tolerance if tolerance is not None else 1e-6)
    if kind == "exact":
        return verify_exact(pred, gold)
    raise ValueError(f"unknown verifier {kind!r}; use math, numeric or exact")
