"""The Python client of the API, under its former name: it lives in its own distribution, `trustledger-client`
(`clients/python/`, module `trustledger_client`), which an approval system installs without the server. The server's
distribution ships that module too, so `verify_api.client` keeps working for existing callers."""

from __future__ import annotations

from trustledger_client import (
    AmendedEvent,
    ApiProblem,
    ClientConnectionError,
    HistoryEvent,
    InvokedEvent,
    IssuedEvent,
    ReinstatedEvent,
    ReminderEvent,
    RenewedEvent,
    RevokedEvent,
    SealedEvent,
    SuspendedEvent,
    TrustLedgerClient,
    TrustLedgerClientError,
)

__all__ = [
    "AmendedEvent",
    "ApiProblem",
    "ClientConnectionError",
    "HistoryEvent",
    "InvokedEvent",
    "IssuedEvent",
    "ReinstatedEvent",
    "ReminderEvent",
    "RenewedEvent",
    "RevokedEvent",
    "SealedEvent",
    "SuspendedEvent",
    "TrustLedgerClient",
    "TrustLedgerClientError",
]
