"""The licence read models in the audit (DESIGN §4): re-derive them from the events and compare them with the stored.

`LicenceTablesAudit` and `RegistryAudit` are `ledger.audit.AuditHook`s, modelled on `licences.status_audit`. As the
audit walks the log they decode the events they need (by comparing topics, never resolving a topic from the database)
and fold them the way `licences.projector` (`row_for`, `history_rows`) and `licences.registry` wrote the rows, into
copies of the tables in a scratch SQLite database (`ledger.store_derived.scratch_database`), a batch at a time, so
memory stays flat however many licences; the registry is a few hundred rows and stays in dicts. After the walk each
table is compared with the stored one in key order (`ledger.derived_audit.check_derived_tables`): the first row only
stored, only derived or with a differing column fails the audit, named.

Columns not compared, because no event holds them (docs/audit.md):
- `licence_index.token`, `token_kid`: the token is signed when the version is minted (ES256 signatures are not
  deterministic, and the signing key is chosen from the registry at that moment); the token is checked by verifying
  it, not by re-deriving it;
- `licence_index.display_name`: the holder's masked name needs the holder's key (a shredded holder has none);
- a NULL `licence_index.minted_at` is accepted: rows written before migration 0010 have none, and the scan then
  replays the events instead of reading it;
- `registry_issuers.position`: the order of the departments document as last published, which no event carries
  whole (only the changed entries are published); `registry_issuers.licence_types` is compared as a set.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger.derived_audit import DerivedTable, check_derived_tables
from ledger.errors import AuditFailure
from licences.catalogue import build_catalogue
from licences.domain import (
    ExpiryReminderSent,
    LicenceAmended,
    LicenceIssued,
    LicenceReinstated,
    LicenceRenewed,
    LicenceRevoked,
    LicenceSuspended,
)
from licences.errors import LicenceError
from licences.identifiers import parse_identifier
from licences.invocation import LicenceInvoked
from licences.projector import KINDS, MINTING
from licences.registry import CatalogueEntryPublished, SigningKeyCompromised, SigningKeyRegistered, SigningKeyRetired
from licences.store import licence_history, licence_identifiers, licence_index
from licences.store_audit import derived_licences, write_licence_batch, write_registry
from licences.store_registry import registry_entries, registry_issuers, registry_keys

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.store import Checkpoint, EventRow
    from signatures.note import CheckpointBody

BATCH = 5000  # events folded before the changed rows are written to the scratch tables
# Topics are compared, never resolved (an event class is never renamed or moved, docs/style.md).
LICENCE_KINDS = {get_topic(cls): kind for cls, kind in KINDS.items()}
REGISTRY_TOPICS = frozenset(
    get_topic(c) for c in (CatalogueEntryPublished, SigningKeyRegistered, SigningKeyRetired, SigningKeyCompromised)
)
_LIFECYCLE: dict[type[Any], str] = {
    LicenceSuspended: "suspended",
    LicenceReinstated: "active",
    LicenceRevoked: "revoked",
}


def _json(text: Any) -> Any:
    return json.loads(text)


def _types(text: Any) -> Any:
    return sorted(json.loads(text))


LICENCE_TABLES = (
    DerivedTable(
        licence_index,
        ("licence_id",),
        (
            "identifier",
            "type_code",
            "issuer",
            "holder_digest",
            "holder_kind",
            "lifecycle",
            "licence_version",
            "valid_from",
            "valid_until",
            "reminded_stage",
            "minted_leaf",
            "last_leaf",
            "aggregate_version",
            "fields",
            "imported",
            "identifier_check_ok",
            "minted_at",
        ),
        {"fields": _json},
        frozenset({"minted_at"}),  # NULL on rows written before migration 0010: the scan then replays the events
    ),
    DerivedTable(licence_identifiers, ("identifier",), ("licence_id", "licence_version")),
    DerivedTable(licence_history, ("leaf_index", "licence_id"), ("kind", "licence_version")),
)
REGISTRY_TABLES = (
    DerivedTable(
        registry_keys,
        ("kid",),
        (
            "owner",
            "purpose",
            "alg",
            "public_key",
            "not_before",
            "not_after",
            "retired_at",
            "compromised_since",
            "version",
            "leaf_index",
        ),
    ),
    DerivedTable(
        registry_entries, ("kind", "key"), ("document", "digest", "version", "leaf_index"), {"document": _json}
    ),
    DerivedTable(
        registry_issuers, ("uscc",), ("name", "region_code", "licence_types", "leaf_index"), {"licence_types": _types}
    ),
)


def decode(mapper: Mapper[UUID], row: EventRow, what: str) -> DomainEventProtocol[Any]:
    """The domain event of a stored row; a row that does not decode fails the audit."""
    index, stream, version, topic, state = row[:5]
    try:
        return mapper.to_domain_event(StoredEvent(UUID(stream), version, topic, state))
    except Exception as exc:  # whatever the decoder raises, the row is not the event its topic names
        raise AuditFailure(index, f"{what}: event {index} ({topic}) cannot be decoded: {exc}") from exc


def _check_ok(identifier: str, index: int) -> int:
    try:
        return int(parse_identifier(identifier).check_ok)
    except LicenceError as exc:
        raise AuditFailure(index, f"licence_index: event {index} carries a malformed identifier: {exc}") from exc


def _issued(e: LicenceIssued, stream: str, leaf: int) -> dict[str, Any]:
    return {
        "licence_id": stream,
        "identifier": e.identifier,
        "type_code": e.type_code,
        "issuer": e.issuer,
        "holder_digest": e.holder_digest,
        "holder_kind": e.holder_kind,
        "lifecycle": "active",
        "licence_version": e.licence_version,
        "valid_from": e.valid_from,
        "valid_until": e.valid_until,
        "reminded_stage": None,
        "minted_leaf": leaf,
        "last_leaf": leaf,
        "aggregate_version": e.originator_version,
        "fields": json.dumps(e.fields, ensure_ascii=False, sort_keys=True),
        "token": "",  # not derived: see the module docstring
        "imported": int(e.imported),
        "identifier_check_ok": int(e.identifier_check_ok),
        "display_name": None,
        "minted_at": e.timestamp,
        "token_kid": None,
    }


def _fold(row: dict[str, Any], e: DomainEventProtocol[Any], leaf: int) -> None:
    """Apply one lifecycle event (not the issue) to a licence's derived index row, as `row_for` writes it."""
    if isinstance(e, LicenceRenewed | LicenceAmended):
        row.update(identifier=e.identifier, licence_version=e.licence_version)
        row["identifier_check_ok"] = _check_ok(e.identifier, leaf)
    if isinstance(e, LicenceRenewed):
        row.update(valid_from=e.valid_from, valid_until=e.valid_until, reminded_stage=None)
    elif isinstance(e, LicenceAmended):
        fields = {**json.loads(row["fields"]), **e.changes}
        row["fields"] = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    elif isinstance(e, ExpiryReminderSent):
        stage = row["reminded_stage"]
        row["reminded_stage"] = e.stage if stage is None else min(stage, e.stage)
    elif type(e) in _LIFECYCLE:
        row["lifecycle"] = _LIFECYCLE[type(e)]
    if isinstance(e, MINTING):
        row.update(minted_leaf=leaf, minted_at=e.timestamp)
    row.update(last_leaf=leaf, aggregate_version=e.originator_version)


class LicenceTablesAudit:
    """Re-derives `licence_index`, `licence_identifiers` and `licence_history` as the audit walks (an `AuditHook`)."""

    def __init__(self, mapper: Mapper[UUID], scratch: Connection, batch: int = BATCH) -> None:
        self._mapper = mapper
        self._scratch = scratch
        self._batch = batch
        self._rows: dict[str, dict[str, Any]] = {}  # licences changed since the last batch was written
        self._identifiers: list[dict[str, Any]] = []
        self._history: list[dict[str, Any]] = []
        self.events = 0

    def on_event(self, conn: Connection, row: EventRow) -> None:
        kind = LICENCE_KINDS.get(row[3])
        if kind is None:
            return
        leaf, event = row[0], decode(self._mapper, row, "licence read models")
        self.events += 1
        if isinstance(event, LicenceInvoked):  # a use: its own stream, a history row on the licence it used
            self._history.append(_history(str(event.licence_id), leaf, kind, event.licence_version))
        else:
            self._licence_event(str(UUID(row[1])), event, leaf, kind)
        if len(self._rows) + len(self._history) >= self._batch:
            self._flush()

    def _licence_event(self, stream: str, event: DomainEventProtocol[Any], leaf: int, kind: str) -> None:
        if isinstance(event, LicenceIssued):
            current = self._rows[stream] = _issued(event, stream, leaf)
        else:
            found = self._current(stream)
            if found is None:
                raise AuditFailure(leaf, f"licence_index: event {leaf} ({kind}) on licence {stream}, never issued")
            current = found
            _fold(current, event, leaf)
        if isinstance(event, MINTING):
            self._identifiers.append(
                {
                    "identifier": current["identifier"],
                    "licence_id": stream,
                    "licence_version": current["licence_version"],
                }
            )
        version = getattr(event, "licence_version", current["licence_version"])
        self._history.append(_history(stream, leaf, kind, int(version)))

    def _current(self, stream: str) -> dict[str, Any] | None:
        if stream not in self._rows:
            found = derived_licences(self._scratch, [stream]).get(stream)
            if found is None:
                return None
            self._rows[stream] = found
        return self._rows[stream]

    def _flush(self) -> None:
        write_licence_batch(self._scratch, list(self._rows.values()), self._identifiers, self._history)
        self._rows, self._identifiers, self._history = {}, [], []

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        """Nothing to check at a checkpoint: the read models hold only the newest state."""

    def on_finish(self, conn: Connection, size: int) -> None:
        self._flush()
        check_derived_tables(LICENCE_TABLES, conn, self._scratch)


def _history(licence_id: str, leaf: int, kind: str, version: int) -> dict[str, Any]:
    return {"licence_id": licence_id, "leaf_index": leaf, "kind": kind, "licence_version": version}


@dataclass
class _Catalogue:
    """The re-derived catalogue: entries by (kind, key) in order of first publication, and the newest leaf."""

    entries: dict[tuple[str, str], dict[str, Any]]
    documents: dict[tuple[str, str], dict[str, Any]]
    last_leaf: int = -1


class RegistryAudit:
    """Re-derives `registry_keys`, `registry_entries` and `registry_issuers` as the audit walks (an `AuditHook`)."""

    def __init__(self, mapper: Mapper[UUID], scratch: Connection) -> None:
        self._mapper = mapper
        self._scratch = scratch
        self.keys: dict[str, dict[str, Any]] = {}  # kid (hex) → its registry_keys row as re-derived so far
        self._kid_of: dict[str, str] = {}  # key stream → kid
        self._catalogue = _Catalogue({}, {})
        self._on: dict[type[Any], Callable[[DomainEventProtocol[Any], str, int], None]] = {
            CatalogueEntryPublished: self._entry,
            SigningKeyRegistered: self._registered,
            SigningKeyRetired: self._key_changed,
            SigningKeyCompromised: self._key_changed,
        }

    def on_event(self, conn: Connection, row: EventRow) -> None:
        if row[3] in REGISTRY_TOPICS:
            event = decode(self._mapper, row, "registry")
            self._on[type(event)](event, str(UUID(row[1])), row[0])

    def _entry(self, e: DomainEventProtocol[Any], stream: str, leaf: int) -> None:
        assert isinstance(e, CatalogueEntryPublished)
        document = json.dumps(e.document, ensure_ascii=False, sort_keys=True)
        self._catalogue.entries[(e.kind, e.key)] = {
            "kind": e.kind,
            "key": e.key,
            "document": document,
            "digest": e.digest,
            "version": e.originator_version,
            "leaf_index": leaf,
        }
        self._catalogue.documents[(e.kind, e.key)] = e.document
        self._catalogue.last_leaf = leaf

    def _registered(self, e: DomainEventProtocol[Any], stream: str, leaf: int) -> None:
        assert isinstance(e, SigningKeyRegistered)
        self._kid_of[stream] = e.kid
        self.keys[e.kid] = {
            "kid": e.kid,
            "owner": e.owner,
            "purpose": e.purpose,
            "alg": e.alg,
            "public_key": e.public_key,
            "not_before": e.not_before,
            "not_after": e.not_after,
            "retired_at": None,
            "compromised_since": None,
            "version": e.originator_version,
            "leaf_index": leaf,
        }

    def _key_changed(self, e: DomainEventProtocol[Any], stream: str, leaf: int) -> None:
        row = self.keys.get(self._kid_of.get(stream, ""))
        if row is None:
            raise AuditFailure(leaf, f"registry_keys: event {leaf} changes a key that was never registered")
        if isinstance(e, SigningKeyRetired):
            row["retired_at"] = e.retired_at
        elif isinstance(e, SigningKeyCompromised):
            row["compromised_since"] = e.compromised_since
        row["version"] = e.originator_version

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        """Nothing to check at a checkpoint: the registry's tables hold only the newest state."""

    def on_finish(self, conn: Connection, size: int) -> None:
        entries = list(self._catalogue.entries.values())
        write_registry(self._scratch, list(self.keys.values()), entries, self._issuers())
        check_derived_tables(REGISTRY_TABLES, conn, self._scratch)

    def _issuers(self) -> list[dict[str, Any]]:
        """Every department of the re-derived catalogue, as `RegistryService.publish_catalogue` writes it."""
        documents = self._catalogue.documents
        regions = [doc for (kind, _), doc in documents.items() if kind == "region"]
        if not regions:
            return []
        departments = [doc for (kind, _), doc in documents.items() if kind == "department"]
        types = [(key, doc) for (kind, key), doc in documents.items() if kind == "licence_type"]
        try:
            catalogue = build_catalogue({"region": regions[0], "departments": departments}, types)
        except LicenceError as exc:
            raise AuditFailure(-1, f"registry_issuers: the catalogue the events publish does not build: {exc}") from exc
        return [
            {
                "uscc": d.uscc,
                "name": d.name_zh,
                "region_code": d.region_code,
                "licence_types": json.dumps([t.code for t in catalogue.types_for(d)]),
                "position": i,  # not compared: see the module docstring
                "leaf_index": self._catalogue.last_leaf,
            }
            for i, d in enumerate(catalogue.departments)
        ]


__all__ = ["LICENCE_TABLES", "REGISTRY_TABLES", "LicenceTablesAudit", "RegistryAudit", "decode"]
