import datetime
from decimal import Decimal

import pytest

from ledgerpy import (AccountType, ClosedAccountError, DuplicateAccountError, Ledger,
                      LedgerError, Posting, UnbalancedTransactionError, UnknownAccountError,
                      credit, debit)

D = Decimal
JAN = datetime.date(2024, 1, 15)
FEB = datetime.date(2024, 2, 15)


def test_account_types_are_inferred_from_root(ledger):
    assert ledger.chart.get("Liabilities:CreditCard").type is AccountType.LIABILITY
    assert ledger.chart.get("Income:Salary").type is AccountType.INCOME
    with pytest.raises(ValueError):
        ledger.open_account("Misc:Thing")
    with pytest.raises(DuplicateAccountError):
        ledger.open_account("Assets:Cash")


def test_balances_are_reported_on_the_normal_side(ledger):
    ledger.record(JAN, "Dinner", [debit("Expenses:Food", "45.20"),
                                  credit("Liabilities:CreditCard", "45.20")])
    ledger.record(JAN, "Pay day", [debit("Assets:Bank:Checking", 2000),
                                   credit("Income:Salary", 2000)])
    assert ledger.balance("Expenses:Food") == D("45.20")
    assert ledger.balance("Liabilities:CreditCard") == D("45.20")
    assert ledger.balance("Income:Salary") == D("2000.00")
    assert ledger.balance("Equity:Opening") == D("1000.00")
    assert ledger.balance("Assets:Bank:Checking") == D("3000.00")


def test_unbalanced_transaction_is_rejected(ledger):
    with pytest.raises(UnbalancedTransactionError) as info:
        ledger.record(JAN, "Oops", [debit("Expenses:Rent", 500), credit("Assets:Cash", 499)])
    assert info.value.imbalance == D("1.00")
    assert len(ledger.transactions) == 1


def test_elided_amount_is_filled_in(ledger):
    txn = ledger.record(JAN, "Groceries", [Posting("Expenses:Food", "12.30"),
                                           Posting("Expenses:Rent", "7.70"),
                                           Posting("Assets:Bank:Checking", None)])
    assert txn.postings[-1].amount == D("-20.00")
    assert txn.total == D("20.00")
    with pytest.raises(LedgerError):
        ledger.record(JAN, "Two blanks", [Posting("Expenses:Food", None),
                                          Posting("Assets:Cash", None)])


def test_unknown_account(ledger):
    with pytest.raises(UnknownAccountError):
        ledger.transfer(JAN, "?", "Assets:Cash", "Expenses:Nope", 1)


def test_parent_balance_includes_children(ledger):
    ledger.transfer(JAN, "ATM", "Assets:Bank:Checking", "Assets:Cash", 100)
    assert ledger.balance("Assets") == D("1000.00")
    assert ledger.balance("Assets:Bank") == D("900.00")
    assert ledger.balance("Assets:Bank:Checking", include_children=False) == D("900.00")


def test_balance_as_of_and_activity(ledger):
    ledger.transfer(JAN, "Rent Jan", "Assets:Bank:Checking", "Expenses:Rent", 500)
    ledger.transfer(FEB, "Rent Feb", "Assets:Bank:Checking", "Expenses:Rent", 500)
    assert ledger.balance("Assets:Bank:Checking", as_of=JAN) == D("500.00")
    assert ledger.activity("Expenses:Rent", start=datetime.date(2024, 2, 1)) == D("500.00")


def test_split_evenly_between_expense_accounts(ledger):
    txn = ledger.split(JAN, "Trip", "Liabilities:CreditCard",
                       ["Expenses:Travel", "Expenses:Food", "Expenses:Rent"], "100.00")
    assert [p.amount for p in txn.postings] == [D("33.34"), D("33.33"), D("33.33"), D("-100.00")]
    assert ledger.balance("Liabilities:CreditCard") == D("100.00")


def test_split_by_ratio(ledger):
    ledger.split(JAN, "Shared bill", "Assets:Bank:Checking",
                 {"Expenses:Food": 2, "Expenses:Travel": 1}, "90")
    assert ledger.balance("Expenses:Food") == D("60.00")
    assert ledger.balance("Expenses:Travel") == D("30.00")


def test_closed_account_rejects_later_postings(ledger):
    ledger.close_account("Assets:Cash", JAN)
    with pytest.raises(ClosedAccountError):
        ledger.transfer(FEB, "Late", "Assets:Bank:Checking", "Assets:Cash", 5)
    with pytest.raises(LedgerError):
        ledger.close_account("Assets:Bank:Checking", JAN)


def test_trial_balance_debits_equal_credits(ledger):
    ledger.transfer(JAN, "Rent", "Assets:Bank:Checking", "Expenses:Rent", 500)
    ledger.record(JAN, "Dinner", [debit("Expenses:Food", 30), credit("Liabilities:CreditCard", 30)])
    rows = ledger.trial_balance()
    assert sum(r[1] for r in rows) == sum(r[2] for r in rows) == D("1030.00")
    assert ("Liabilities:CreditCard", D("0.00"), D("30.00")) in rows


def test_register_running_balance(ledger):
    ledger.transfer(JAN, "Rent", "Assets:Bank:Checking", "Expenses:Rent", 500)
    ledger.transfer(FEB, "Refund", "Expenses:Rent", "Assets:Bank:Checking", 50)
    assert ledger.register("Assets:Bank:Checking") == [
        (datetime.date(2024, 1, 1), "Opening balance", D("1000.00"), D("1000.00")),
        (JAN, "Rent", D("-500.00"), D("500.00")),
        (FEB, "Refund", D("50.00"), D("550.00")),
    ]


def test_transactions_are_kept_in_date_order():
    book = Ledger()
    book.open_account("Assets:Cash")
    book.open_account("Equity:Opening")
    book.transfer(FEB, "second", "Equity:Opening", "Assets:Cash", 1)
    book.transfer(JAN, "first", "Equity:Opening", "Assets:Cash", 1)
    assert [t.description for t in book.transactions] == ["first", "second"]
