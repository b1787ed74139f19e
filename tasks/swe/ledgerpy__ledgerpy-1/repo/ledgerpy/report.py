"""Financial statements built from a :class:`~ledgerpy.ledger.Ledger`."""

from .accounts import AccountType
from .ledger import ZERO
from .money import format_amount


def _lines(ledger, type, as_of=None, start=None):
    rows = []
    for account in ledger.chart:
        if account.type is not type:
            continue
        if start is None:
            amount = ledger.balance(account.name, as_of=as_of, include_children=False)
        else:
            amount = ledger._normal(account.name, ledger._net_debits(
                account.name, start, as_of, include_children=False))
        if amount != 0:
            rows.append((account.name, amount))
    return rows


def income_statement(ledger, start=None, end=None):
    income = _lines(ledger, AccountType.INCOME, end, start)
    expenses = _lines(ledger, AccountType.EXPENSE, end, start)
    total_income = sum((a for _, a in income), ZERO)
    total_expenses = sum((a for _, a in expenses), ZERO)
    return {
        "income": income,
        "expenses": expenses,
        "total_income": total_income,
        "total_expenses": total_expenses,
        "net_income": total_income - total_expenses,
    }


def balance_sheet(ledger, as_of=None):
    """Assets = liabilities + equity, with the net income to date shown as
    retained earnings under equity."""
    assets = _lines(ledger, AccountType.ASSET, as_of)
    liabilities = _lines(ledger, AccountType.LIABILITY, as_of)
    equity = _lines(ledger, AccountType.EQUITY, as_of)
    retained = income_statement(ledger, None, as_of)["net_income"]
    if retained != 0:
        equity.append(("Retained earnings", retained))
    return {
        "assets": assets,
        "liabilities": liabilities,
        "equity": equity,
        "total_assets": sum((a for _, a in assets), ZERO),
        "total_liabilities": sum((a for _, a in liabilities), ZERO),
        "total_equity": sum((a for _, a in equity), ZERO),
    }


def render_trial_balance(ledger, as_of=None, currency=""):
    """A plain-text trial balance with a totals line."""
    rows = ledger.trial_balance(as_of)
    total_debit = sum((d for _, d, _ in rows), ZERO)
    total_credit = sum((c for _, _, c in rows), ZERO)
    table = [("Account", "Debit", "Credit")]
    for name, dr, cr in rows:
        table.append((name, format_amount(dr, currency) if dr else "",
                      format_amount(cr, currency) if cr else ""))
    table.append(("Total", format_amount(total_debit, currency),
                  format_amount(total_credit, currency)))
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    lines = []
    for i, (name, dr, cr) in enumerate(table):
        lines.append("%s  %s  %s" % (name.ljust(widths[0]), dr.rjust(widths[1]),
                                     cr.rjust(widths[2])))
        if i == 0 or i == len(table) - 2:
            lines.append("-" * (widths[0] + widths[1] + widths[2] + 4))
    return "\n".join(lines) + "\n"
