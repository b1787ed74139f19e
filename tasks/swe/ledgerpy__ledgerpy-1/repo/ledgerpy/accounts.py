"""Account types and the chart of accounts."""

import enum

from .errors import DuplicateAccountError, UnknownAccountError

SEPARATOR = ":"


class AccountType(enum.Enum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def is_debit_normal(self):
        """Assets and expenses grow with debits; the others with credits."""
        return self in (AccountType.ASSET, AccountType.EXPENSE)


# Top-level names that imply a type when none is given explicitly.
ROOT_TYPES = {
    "assets": AccountType.ASSET,
    "liabilities": AccountType.LIABILITY,
    "equity": AccountType.EQUITY,
    "income": AccountType.INCOME,
    "revenue": AccountType.INCOME,
    "expenses": AccountType.EXPENSE,
}


class Account:
    """A named account such as ``Assets:Bank:Checking``."""

    def __init__(self, name, type, opened=None):
        if not name or any(not part.strip() for part in name.split(SEPARATOR)):
            raise ValueError("invalid account name: %r" % (name,))
        self.name = name
        self.type = type
        self.opened = opened
        self.closed = None

    def __repr__(self):
        return "Account(%r, %s)" % (self.name, self.type.name)

    @property
    def parts(self):
        return self.name.split(SEPARATOR)

    @property
    def depth(self):
        return len(self.parts)

    @property
    def leaf(self):
        return self.parts[-1]

    def is_descendant_of(self, other_name):
        """True if this account is ``other_name`` or lives below it."""
        return self.name == other_name or self.name.startswith(other_name + SEPARATOR)

    def is_open_on(self, date):
        if self.opened is not None and date < self.opened:
            return False
        return self.closed is None or date <= self.closed


def infer_type(name):
    root = name.split(SEPARATOR)[0].strip().lower()
    try:
        return ROOT_TYPES[root]
    except KeyError:
        raise ValueError("cannot infer the type of account %r" % (name,)) from None


class Chart:
    """The set of open accounts, by name."""

    def __init__(self):
        self._accounts = {}

    def __contains__(self, name):
        return name in self._accounts

    def __iter__(self):
        return iter(sorted(self._accounts.values(), key=lambda a: a.name))

    def __len__(self):
        return len(self._accounts)

    def open(self, name, type=None, opened=None):
        if name in self._accounts:
            raise DuplicateAccountError("account already open: %r" % (name,))
        account = Account(name, type or infer_type(name), opened)
        self._accounts[name] = account
        return account

    def get(self, name):
        try:
            return self._accounts[name]
        except KeyError:
            raise UnknownAccountError(name) from None

    def children(self, name):
        """Accounts at or below ``name`` (``name`` need not exist itself)."""
        return [a for a in self if a.is_descendant_of(name)]
