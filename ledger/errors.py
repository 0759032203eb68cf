"""Errors of the ledger package."""


class LedgerError(Exception):
    """Root of every error raised by `ledger`."""


class ProofError(LedgerError):
    """A proof was requested for sizes or indexes the tree cannot prove (e.g. index >= size)."""


class StorageError(LedgerError):
    """The store is missing, not initialised, or in a state it should never reach."""


class AuditFailure(LedgerError):
    """The audit found tampering or inconsistency; `index` is the first bad leaf index (or -1 if not leaf-bound)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"first bad index {index}: {reason}")
        self.index = index
        self.reason = reason
