"""Errors of the signatures package; `VerificationError` is shared by every verifier in the project."""


class SignatureError(Exception):
    """Root of every error raised by `signatures`."""


class VerificationError(SignatureError):
    """A signature, token, note or trust list did not verify; the message says which check failed."""


class KeyStoreError(SignatureError):
    """A key could not be created, loaded or found."""


class MalformedError(SignatureError, ValueError):
    """Input that crosses a boundary is not in the strict, canonical form we accept."""
