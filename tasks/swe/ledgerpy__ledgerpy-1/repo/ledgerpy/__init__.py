"""ledgerpy - a tiny double-entry bookkeeping library."""

from .accounts import Account, AccountType, Chart, infer_type
from .errors import (ClosedAccountError, DuplicateAccountError, LedgerError,
                     UnbalancedTransactionError, UnknownAccountError)
from .ledger import Ledger, Posting, Transaction, credit, debit
from .money import allocate, format_amount, quantize, split_evenly, to_decimal
from .report import balance_sheet, income_statement, render_trial_balance

__version__ = "1.0.0"
