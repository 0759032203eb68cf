"""What the licence library hands out: a licence's view, a use's result, a history entry (all frozen, JSON-ready).

A view is built from the `licence_index` read model alone (`view_of`): no replay, no decryption.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ledger.ids import LeafIndex
from licences.catalogue import Catalogue
from licences.store import LicenceRow
from licences.values import LicenceId, LicenceStatus, Uscc
from signatures.cose import token_url


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a `Z`, or None."""
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class LicenceView:
    """A licence as verifiers and departments see it: public fields, status at the clock's now, current token."""

    id: LicenceId
    identifier: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    issuer: Uscc
    issuer_name: str
    holder_kind: str
    holder_digest: str
    status: LicenceStatus
    lifecycle: str
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    fields: dict[str, Any]
    minted_leaf: LeafIndex
    last_leaf: LeafIndex
    token: str
    qr_url: str
    reminded_stage: int | None = None
    imported: bool = False
    # The holder's name for public pages, from the index (an organisation's in full, a person's masked); None when
    # shredded or on a row from before migration 0010. Not in `to_json`: the scan page alone shows it.
    display_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by the CLI and the API (`leaf_index` is the leaf that minted this version)."""
        return {
            "id": str(self.id),
            "identifier": self.identifier,
            "type_code": self.type_code,
            "type_name_zh": self.type_name_zh,
            "type_name_en": self.type_name_en,
            "issuer": self.issuer,
            "issuer_name": self.issuer_name,
            "holder_kind": self.holder_kind,
            "holder_digest": self.holder_digest,
            "status": self.status.value,
            "lifecycle": self.lifecycle,
            "licence_version": self.licence_version,
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "fields": self.fields,
            "leaf_index": self.minted_leaf,
            "last_leaf": self.last_leaf,
            "token": self.token,
            "qr_url": self.qr_url,
            "reminded_stage": self.reminded_stage,
            "imported": self.imported,
        }


@dataclass(frozen=True)
class UseResult:
    """The recorded outcome of one use of a licence."""

    invocation_id: UUID
    outcome: str
    refusal_reason: str | None
    leaf_index: LeafIndex
    licence: LicenceView

    def to_json(self) -> dict[str, Any]:
        """JSON form: the verdict, the use's leaf, and the licence as seen."""
        return {
            "invocation_id": str(self.invocation_id),
            "outcome": self.outcome,
            "refusal_reason": self.refusal_reason,
            "leaf_index": self.leaf_index,
            "licence": self.licence.to_json(),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One event in a licence's history, with its leaf index; personal data stays sealed in `event`."""

    leaf_index: LeafIndex
    kind: str
    recorded_at: str
    licence_version: int
    topic: str
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "leaf_index": self.leaf_index,
            "kind": self.kind,
            "recorded_at": self.recorded_at,
            "licence_version": self.licence_version,
            "topic": self.topic,
            "event": self.event,
        }


def status_of(row: LicenceRow, now: datetime) -> LicenceStatus:
    """The same rule as `Licence.status_at`, on the read model (no replay)."""
    if row.lifecycle == "revoked":
        return LicenceStatus.REVOKED
    if row.lifecycle == "suspended":
        return LicenceStatus.SUSPENDED
    if now < row.valid_from:
        return LicenceStatus.NOT_YET_VALID
    if row.valid_until is not None and now >= row.valid_until:
        return LicenceStatus.EXPIRED
    return LicenceStatus.VALID


def view_of(row: LicenceRow, catalogue: Catalogue, now: datetime, public_base_url: str) -> LicenceView:
    """The view of one `licence_index` row at `now`, with the catalogue's names."""
    licence_type = catalogue.licence_type(row.type_code)
    department = catalogue.department(row.issuer)
    return LicenceView(
        id=row.licence_id,
        identifier=row.identifier,
        type_code=row.type_code,
        type_name_zh=licence_type.name_zh,
        type_name_en=licence_type.name_en,
        issuer=row.issuer,
        issuer_name=department.name_zh,
        holder_kind=row.holder_kind,
        holder_digest=row.holder_digest,
        status=status_of(row, now),
        lifecycle=row.lifecycle,
        licence_version=row.licence_version,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        fields=row.fields,
        minted_leaf=row.minted_leaf,
        last_leaf=row.last_leaf,
        token=row.token,
        qr_url=token_url(public_base_url, _b64url_decode(row.token)),
        reminded_stage=row.reminded_stage,
        imported=row.imported,
        display_name=row.display_name,
    )


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
