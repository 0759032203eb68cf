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


class BusyError(StorageError):
    """The log's writer could not be had in time (queue full or lock wait over): retry after `retry_after` seconds.

    Raised instead of waiting without bound, so a server under load answers "retry" rather than stalling.
    """

    def __init__(self, reason: str, retry_after: float = 1.0) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class ConcurrentUpdateError(LedgerError):
    """Another writer appended to the same stream first (stream-version clash); the save wrote nothing.

    `licences.errors.ConcurrentUpdateError` derives from it, so the licence library's callers keep catching it as a
    `LicenceError`; packages that know no licence (`seals`) catch this one.
    """
