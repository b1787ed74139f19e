"""Exceptions raised by ledgerpy."""


class LedgerError(Exception):
    """Base class for ledgerpy errors."""


class UnknownAccountError(LedgerError, KeyError):
    def __init__(self, name):
        self.name = name
        super().__init__("unknown account: %r" % (name,))

    def __str__(self):
        return self.args[0]


class DuplicateAccountError(LedgerError):
    """An account with this name is already open."""


class UnbalancedTransactionError(LedgerError):
    """The postings of a transaction do not sum to zero."""

    def __init__(self, description, imbalance):
        self.imbalance = imbalance
        super().__init__("transaction %r is unbalanced by %s" % (description, imbalance))


class ClosedAccountError(LedgerError):
    """A posting refers to an account that was closed before its date."""
