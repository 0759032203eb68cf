"""Errors of the verify API package; each one that reaches a client is answered as a registered problem."""


class ApiError(Exception):
    """Root of every error raised by `verify_api`."""


class ApiKeyError(ApiError):
    """An API key could not be created, found or revoked (bad role, bad principal, unknown id)."""
