"""The typed Python client of the TrustLedger API, for approval systems, departments and auditors; it needs httpx and
pydantic only. See `trustledger_client.client` for its use."""

from __future__ import annotations

from trustledger_client.client import TrustLedgerClient
from trustledger_client.errors import ApiProblem, ClientConnectionError, TrustLedgerClientError
from trustledger_client.matter_models import MatterList, MatterLookupOut, MatterOut
from trustledger_client.models import (
    AmendedEvent,
    HistoryEvent,
    InvokedEvent,
    IssuedEvent,
    ReinstatedEvent,
    ReminderEvent,
    RenewedEvent,
    RevokedEvent,
    SealedEvent,
    SuspendedEvent,
)

__all__ = [
    "AmendedEvent",
    "ApiProblem",
    "ClientConnectionError",
    "HistoryEvent",
    "InvokedEvent",
    "IssuedEvent",
    "MatterList",
    "MatterLookupOut",
    "MatterOut",
    "ReinstatedEvent",
    "ReminderEvent",
    "RenewedEvent",
    "RevokedEvent",
    "SealedEvent",
    "SuspendedEvent",
    "TrustLedgerClient",
    "TrustLedgerClientError",
]
