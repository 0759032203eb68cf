"""Errors of the trustlists package."""


class TrustListError(Exception):
    """Root of every error raised by `trustlists`."""


class TrustListConflictError(TrustListError):
    """Another writer published this version first; re-read the latest and decide again."""
