import datetime

import pytest

from ledgerpy import Ledger


@pytest.fixture
def ledger():
    book = Ledger()
    for name in ("Assets:Bank:Checking", "Assets:Cash", "Liabilities:CreditCard",
                 "Equity:Opening", "Income:Salary", "Expenses:Rent",
                 "Expenses:Food", "Expenses:Travel"):
        book.open_account(name)
    book.transfer(datetime.date(2024, 1, 1), "Opening balance", "Equity:Opening",
                  "Assets:Bank:Checking", "1000.00")
    return book
