"""Errors of the seals package."""


class SealError(Exception):
    """Root of every error raised by `seals`."""
