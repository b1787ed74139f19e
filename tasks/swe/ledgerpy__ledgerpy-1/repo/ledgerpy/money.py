"""Decimal helpers for amounts of money."""

from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal, InvalidOperation

CENT = Decimal("0.01")


def to_decimal(value):
    """Convert ``value`` (str, int, Decimal or float) to :class:`Decimal`.

    Floats go through ``repr`` so that ``0.1`` becomes ``Decimal("0.1")``.
    """
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("not an amount: %r" % (value,))
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = value.strip().replace(",", "").replace("_", "")
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValueError("not an amount: %r" % (value,)) from None


def _unit(places):
    return Decimal(1).scaleb(-places)


def quantize(amount, places=2):
    """Round ``amount`` to ``places`` decimal places (banker's rounding)."""
    return to_decimal(amount).quantize(_unit(places), rounding=ROUND_HALF_EVEN)


def allocate(amount, ratios, places=2):
    """Split ``amount`` into parts proportional to ``ratios``.

    Every part is a whole number of units (cents with the default
    ``places=2``) and the parts always add up exactly to ``amount``: each
    share is first truncated, then the leftover units are handed out one by
    one to the shares that lost the most to truncation (ties go to the
    earlier share).

    >>> allocate(Decimal("100.00"), [1, 1, 1])
    [Decimal('33.34'), Decimal('33.33'), Decimal('33.33')]
    """
    ratios = [to_decimal(r) for r in ratios]
    if not ratios:
        raise ValueError("allocate() needs at least one ratio")
    if any(r < 0 for r in ratios):
        raise ValueError("ratios must not be negative")
    total = sum(ratios)
    if total == 0:
        raise ValueError("ratios must not all be zero")

    unit = _unit(places)
    amount = quantize(amount, places)
    exact = [amount * r / total for r in ratios]
    shares = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    remainder = amount - sum(shares)

    leftovers = [e - s for e, s in zip(exact, shares)]
    order = sorted(range(len(shares)), key=lambda i: leftovers[i], reverse=True)
    for k in range(int(remainder / unit)):
        shares[order[k % len(order)]] += unit
    return shares


def split_evenly(amount, parts, places=2):
    """Split ``amount`` into ``parts`` equal shares (see :func:`allocate`)."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    return allocate(amount, [1] * parts, places)


def format_amount(amount, currency="", places=2):
    """Format with thousands separators; negatives in parentheses.

    >>> format_amount(Decimal("-1234.5"), "$")
    '($1,234.50)'
    """
    value = quantize(amount, places)
    text = "{:,.{p}f}".format(abs(value), p=places)
    text = currency + text
    return "(%s)" % text if value < 0 else text
