"""Postings, transactions and the ledger itself."""

from decimal import Decimal

from .accounts import Chart, infer_type
from .errors import ClosedAccountError, LedgerError, UnbalancedTransactionError
from .money import allocate, quantize, to_decimal

ZERO = Decimal("0.00")


class Posting:
    """One leg of a transaction.  Positive amounts are debits, negative
    amounts credits.  ``amount=None`` asks the transaction to fill it in."""

    __slots__ = ("account", "amount", "memo")

    def __init__(self, account, amount, memo=""):
        self.account = account
        self.amount = None if amount is None else quantize(amount)
        self.memo = memo

    @property
    def is_debit(self):
        return self.amount is not None and self.amount > 0

    def __eq__(self, other):
        if not isinstance(other, Posting):
            return NotImplemented
        return (self.account, self.amount, self.memo) == (other.account, other.amount, other.memo)

    def __repr__(self):
        return "Posting(%r, %s)" % (self.account, self.amount)


def debit(account, amount, memo=""):
    return Posting(account, abs(to_decimal(amount)), memo)


def credit(account, amount, memo=""):
    return Posting(account, -abs(to_decimal(amount)), memo)


class Transaction:
    def __init__(self, date, description, postings, tags=()):
        self.date = date
        self.description = description
        self.postings = list(postings)
        self.tags = frozenset(tags)
        missing = [p for p in self.postings if p.amount is None]
        if len(missing) > 1:
            raise LedgerError("at most one posting may leave out its amount")
        if missing:
            missing[0].amount = -sum((p.amount for p in self.postings if p.amount is not None), ZERO)

    def __repr__(self):
        return "Transaction(%s, %r, %r)" % (self.date, self.description, self.postings)

    @property
    def imbalance(self):
        return sum((p.amount for p in self.postings), ZERO)

    @property
    def total(self):
        """The sum of the debits (equal to the sum of the credits)."""
        return sum((p.amount for p in self.postings if p.amount > 0), ZERO)

    def validate(self):
        if len(self.postings) < 2:
            raise LedgerError("a transaction needs at least two postings")
        if self.imbalance != 0:
            raise UnbalancedTransactionError(self.description, self.imbalance)


class Ledger:
    def __init__(self):
        self.chart = Chart()
        self.transactions = []

    # -- accounts -------------------------------------------------------------
    def open_account(self, name, type=None, opened=None):
        return self.chart.open(name, type, opened)

    def close_account(self, name, date):
        account = self.chart.get(name)
        if self.balance(name, as_of=date, include_children=False) != 0:
            raise LedgerError("cannot close %r: its balance is not zero" % (name,))
        account.closed = date

    def _type_of(self, name):
        if name in self.chart:
            return self.chart.get(name).type
        children = self.chart.children(name)
        return children[0].type if children else infer_type(name)

    # -- recording ------------------------------------------------------------
    def record(self, date, description, postings, tags=()):
        txn = Transaction(date, description, postings, tags)
        txn.validate()
        for posting in txn.postings:
            account = self.chart.get(posting.account)
            if not account.is_open_on(date):
                raise ClosedAccountError("%r is not open on %s" % (account.name, date))
        self.transactions.append(txn)
        self.transactions.sort(key=lambda t: t.date)
        return txn

    def transfer(self, date, description, source, destination, amount):
        """Debit ``destination`` and credit ``source`` with ``amount``."""
        amount = quantize(amount)
        return self.record(date, description,
                           [Posting(destination, amount), Posting(source, -amount)])

    def split(self, date, description, source, targets, amount):
        """Move ``amount`` out of ``source`` into several ``targets``.

        ``targets`` is either a sequence of account names (split evenly) or a
        mapping of account name to ratio.  A negative ``amount`` (a refund)
        moves money the other way.  The shares always add up to ``amount``.
        """
        if isinstance(targets, dict):
            names, ratios = list(targets), list(targets.values())
        else:
            names = list(targets)
            ratios = [1] * len(names)
        amount = quantize(amount)
        shares = allocate(amount, ratios)
        postings = [Posting(name, share) for name, share in zip(names, shares)]
        postings.append(Posting(source, -amount))
        return self.record(date, description, postings)

    # -- queries --------------------------------------------------------------
    def postings(self, name, start=None, end=None, include_children=True):
        """Yield ``(transaction, posting)`` pairs for ``name`` between
        ``start`` and ``end`` (both inclusive)."""
        for txn in self.transactions:
            if start is not None and txn.date < start:
                continue
            if end is not None and txn.date > end:
                break
            for posting in txn.postings:
                if posting.account == name or (
                        include_children and posting.account.startswith(name + ":")):
                    yield txn, posting

    def _net_debits(self, name, start=None, end=None, include_children=True):
        return sum((p.amount for _, p in self.postings(name, start, end, include_children)),
                   ZERO)

    def _normal(self, name, net):
        return net if self._type_of(name).is_debit_normal else -net

    def balance(self, name, as_of=None, include_children=True):
        """Balance of ``name`` on ``as_of``, positive when it is on the
        account's normal side (debit for assets and expenses, credit for
        liabilities, equity and income)."""
        return self._normal(name, self._net_debits(name, None, as_of, include_children))

    def activity(self, name, start=None, end=None):
        """Net change of ``name`` (normal side positive) within the period."""
        return self._normal(name, self._net_debits(name, start, end))

    def register(self, name):
        """Rows of ``(date, description, amount, running balance)``."""
        rows, running = [], ZERO
        for txn, posting in self.postings(name):
            amount = self._normal(name, posting.amount)
            running += amount
            rows.append((txn.date, txn.description, amount, running))
        return rows

    def trial_balance(self, as_of=None):
        """Rows of ``(account name, debit, credit)`` for non-zero accounts."""
        rows = []
        for account in self.chart:
            net = self._net_debits(account.name, None, as_of, include_children=False)
            if net > 0:
                rows.append((account.name, net, ZERO))
            elif net < 0:
                rows.append((account.name, ZERO, -net))
        return rows
