"""The errors of the TrustLedger client: one root, `TrustLedgerClientError`, so a caller can catch everything the
client raises in one clause and still tell an answer of the API from a server it could not reach."""

from __future__ import annotations

from trustledger_client.models import Problem


class TrustLedgerClientError(Exception):
    """Root of the client's errors."""


class ApiProblem(TrustLedgerClientError):
    """An error answer of the API: `problem` is the parsed RFC 9457 body (synthesised if the body was not one)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(f"{problem.status} {problem.title}: {problem.detail}")
        self.problem = problem

    @property
    def status(self) -> int:
        """HTTP status."""
        return self.problem.status

    @property
    def type(self) -> str:
        """The stable problem type URI."""
        return self.problem.type

    @property
    def field(self) -> str | None:
        """The request field at fault, if the problem names one."""
        return self.problem.field


class ClientConnectionError(TrustLedgerClientError):
    """No answer from the API: the connection was refused or dropped, timed out, or the exchange broke off (the
    `httpx.TransportError` is the `__cause__`). `sent` is False only when the request surely never reached the
    server (it could not connect); otherwise the server may have acted on it, e.g. recorded a use: retry a write
    with the same `Idempotency-Key`."""

    def __init__(self, message: str, *, base_url: str, sent: bool) -> None:
        super().__init__(message)
        self.base_url = base_url
        self.sent = sent
