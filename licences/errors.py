"""Errors of the licences package."""


class LicenceError(Exception):
    """Root of every error raised by `licences`."""
