"""Values of the licence domain: lifecycle phases, derived statuses, stream ids, and the UTC rule for times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NewType
from uuid import NAMESPACE_OID, UUID, uuid5

from licences.errors import InvalidFieldError
from licences.identifiers import LicenceIdentifier

LICENCE_NAMESPACE = uuid5(NAMESPACE_OID, "1.2.156.3005.2")

LicenceId = NewType("LicenceId", UUID)
"""The stream id of a licence; produced by `licence_id_for` (minting) and `LicenceService.resolve` (lookups)."""
Uscc = NewType("Uscc", str)
"""A Unified Social Credit Code (GB 32100) as text, once `licences.identifiers.parse_uscc` has checked it."""


class Lifecycle(StrEnum):
    """The recorded phase of a licence; the status shown to verifiers also depends on the clock."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class LicenceStatus(StrEnum):
    """The status shown to verifiers and citizens (现势状态), derived by `Licence.status_at`."""

    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class RevocationKind(StrEnum):
    """注销 (voluntary, at the holder's request) or 吊销 (as a penalty)."""

    VOLUNTARY = "voluntary"
    PENALTY = "penalty"


@dataclass(frozen=True, slots=True)
class SealedDocument:
    """A sealed PDF recorded on the ledger: its SHA-256 and the licence version it shows."""

    licence_version: int
    pdf_sha256: str
    sealed_at: datetime


def licence_id_for(identifier: LicenceIdentifier) -> LicenceId:
    """The stream id of a licence: uuid5 of type, issuer and serial, so every version shares it and a retried issue
    lands on the same stream (the store's version check then makes the retry return the first result)."""
    return LicenceId(uuid5(LICENCE_NAMESPACE, f"{identifier.type_code}.{identifier.issuer}.{identifier.serial}"))


def utc(moment: datetime, field: str = "now") -> datetime:
    """Return `moment` in UTC; naive date-times are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFieldError(field, "must be timezone-aware")
    return moment.astimezone(UTC)
