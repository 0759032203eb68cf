"""Errors of the signatures package; `VerificationError` is shared by every verifier in the project."""


class SignatureError(Exception):
    """Root of every error raised by `signatures`."""


class VerificationError(SignatureError):
    """A signature, token, note or trust list did not verify; the message says which check failed."""


class KeyStoreError(SignatureError):
    """A key could not be created, loaded or found."""


class MalformedError(SignatureError, ValueError):
    """Input that crosses a boundary is not in the strict, canonical form we accept."""


class TokenRejectedError(VerificationError):
    """A licence token failed one named check; `reason` is a stable code (e.g. "expired"), the message says more."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
