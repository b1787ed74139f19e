import datetime
from decimal import Decimal

from ledgerpy import balance_sheet, credit, debit, income_statement, render_trial_balance

D = Decimal
JAN = datetime.date(2024, 1, 15)


def _month(ledger):
    ledger.record(JAN, "Salary", [debit("Assets:Bank:Checking", 3000), credit("Income:Salary", 3000)])
    ledger.transfer(JAN, "Rent", "Assets:Bank:Checking", "Expenses:Rent", 1200)
    ledger.record(JAN, "Food", [debit("Expenses:Food", "310.55"),
                                credit("Liabilities:CreditCard", "310.55")])


def test_income_statement(ledger):
    _month(ledger)
    stmt = income_statement(ledger)
    assert stmt["total_income"] == D("3000.00")
    assert stmt["total_expenses"] == D("1510.55")
    assert stmt["net_income"] == D("1489.45")


def test_balance_sheet_balances(ledger):
    _month(ledger)
    sheet = balance_sheet(ledger)
    assert sheet["total_assets"] == D("2800.00")
    assert sheet["total_assets"] == sheet["total_liabilities"] + sheet["total_equity"]
    assert ("Retained earnings", D("1489.45")) in sheet["equity"]


def test_render_trial_balance(ledger):
    _month(ledger)
    text = render_trial_balance(ledger, currency="$")
    lines = text.splitlines()
    assert lines[0].split() == ["Account", "Debit", "Credit"]
    assert lines[-1].split() == ["Total", "$4,310.55", "$4,310.55"]
    assert any(line.startswith("Expenses:Food") and line.rstrip().endswith("$310.55")
               for line in lines)
