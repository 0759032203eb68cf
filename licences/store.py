"""Read models of the licence library (DESIGN §5), written in the same transaction as the events they reflect.

Tables: `licence_index` (one row per licence: look-ups by id, identifier, holder digest, issuer, expiry date, and
what a citizen's scan shows: the holder's public name, minting time, token key id),
`licence_identifiers` (every version's identifier → licence), `licence_history` (leaf indexes of a licence's lifecycle
events and uses, so a history is one indexed range and never a replay), `licence_serials` (per type/issuer/year serial
counters), `idempotency_keys` (a retried command finds its first result) and `holder_keys` (per-holder keys, wrapped; a
deleted row is a shredded holder). The registry's tables and queries are in `licences.store_registry`.

SQL lives here only; the application hands rows in and gets frozen rows out.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from ledger.ids import LeafIndex
from ledger.store import LedgerStore, events_table
from ledger.store_columns import LEAF, WHEN, aware
from licences.store_registry import RegistryQueries
from licences.store_registry import metadata as registry_metadata
from licences.values import LicenceId, Uscc

metadata = MetaData()

licence_index = Table(
    "licence_index",
    metadata,
    Column("licence_id", String(36), primary_key=True),
    Column("identifier", String(96), nullable=False),
    Column("type_code", String(32), nullable=False),
    Column("issuer", String(18), nullable=False),
    Column("holder_digest", String(32), nullable=False),
    Column("holder_kind", String(16), nullable=False),
    Column("lifecycle", String(16), nullable=False),
    Column("licence_version", Integer, nullable=False),
    Column("valid_from", WHEN, nullable=False),
    Column("valid_until", WHEN, nullable=True),
    Column("reminded_stage", Integer, nullable=True),
    Column("minted_leaf", LEAF, nullable=False),
    Column("last_leaf", LEAF, nullable=False),
    Column("aggregate_version", Integer, nullable=False),
    Column("fields", Text, nullable=False),
    Column("token", Text, nullable=False),
    Column("imported", Integer, nullable=False, default=0),
    Column("identifier_check_ok", Integer, nullable=False, default=1),
    # What the citizen's scan shows, so it replays and decrypts nothing (NULL on rows written before 0010: the
    # service then falls back to the replay; `display_name` is also NULL once the holder is shredded).
    Column("display_name", Text, nullable=True),
    Column("minted_at", WHEN, nullable=True),
    Column("token_kid", String(16), nullable=True),
    Index("ix_licence_index_holder", "holder_digest"),
    Index("ix_licence_index_issuer", "issuer", "licence_id"),
    Index("ix_licence_index_valid_until", "valid_until"),
)

licence_identifiers = Table(
    "licence_identifiers",
    metadata,
    Column("identifier", String(96), primary_key=True),
    Column("licence_id", String(36), nullable=False),
    Column("licence_version", Integer, nullable=False),
)

licence_history = Table(
    "licence_history",
    metadata,
    Column("licence_id", String(36), nullable=False),
    Column("leaf_index", LEAF, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("licence_version", Integer, nullable=False),
    PrimaryKeyConstraint("licence_id", "leaf_index", name="pk_licence_history"),
)

licence_serials = Table(
    "licence_serials",
    metadata,
    Column("type_code", String(32), nullable=False),
    Column("issuer", String(18), nullable=False),
    Column("year", Integer, nullable=False),
    Column("next_serial", BigInteger, nullable=False),
    PrimaryKeyConstraint("type_code", "issuer", "year", name="pk_licence_serials"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(64), nullable=False),
    Column("key", String(128), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", Text, nullable=False),
    # The licence the result is about (NULL on rows from before 0012): a shred blinds the records of its holder.
    Column("licence_id", String(36), nullable=True),
    PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    Index("ix_idempotency_keys_licence", "licence_id"),
)
# What a blinded idempotency record holds instead of a fingerprint (a shredded holder's, or one from before 0012):
# no request matches it, so its key is refused rather than replayed or re-executed.
SHREDDED_FINGERPRINT = "shredded"

holder_keys = Table(
    "holder_keys",
    metadata,
    Column("holder_ref", String(64), primary_key=True),
    Column("wrapped_key", LargeBinary, nullable=False),
)


@dataclass(frozen=True, slots=True)
class LicenceRow:
    """One row of `licence_index`."""

    licence_id: LicenceId
    identifier: str
    type_code: str
    issuer: Uscc
    holder_digest: str
    holder_kind: str
    lifecycle: str
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    reminded_stage: int | None
    minted_leaf: LeafIndex
    last_leaf: LeafIndex
    aggregate_version: int
    fields: dict[str, Any]
    token: str
    imported: bool = False
    identifier_check_ok: bool = True
    # The holder's name for public pages (an organisation's in full, a person's masked: 张*三); None: shredded or legacy
    display_name: str | None = None
    minted_at: datetime | None = None  # the time of the event that minted the current version's token
    token_kid: str | None = None  # hex key id of the token key that signed it

    def values(self) -> dict[str, Any]:
        """Column values for an insert or update."""
        return {
            "licence_id": str(self.licence_id),
            "identifier": self.identifier,
            "type_code": self.type_code,
            "issuer": self.issuer,
            "holder_digest": self.holder_digest,
            "holder_kind": self.holder_kind,
            "lifecycle": self.lifecycle,
            "licence_version": self.licence_version,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "reminded_stage": self.reminded_stage,
            "minted_leaf": self.minted_leaf,
            "last_leaf": self.last_leaf,
            "aggregate_version": self.aggregate_version,
            "fields": json.dumps(self.fields, ensure_ascii=False, sort_keys=True),
            "token": self.token,
            "imported": int(self.imported),
            "identifier_check_ok": int(self.identifier_check_ok),
            "display_name": self.display_name,
            "minted_at": self.minted_at,
            "token_kid": self.token_kid,
        }

    @classmethod
    def from_mapping(cls, m: Any) -> LicenceRow:
        """Build from a result row mapping."""
        valid_from = aware(m["valid_from"])
        assert valid_from is not None
        return cls(
            licence_id=LicenceId(UUID(m["licence_id"])),  # our own rows: written from a `LicenceId`
            identifier=m["identifier"],
            type_code=m["type_code"],
            issuer=m["issuer"],
            holder_digest=m["holder_digest"],
            holder_kind=m["holder_kind"],
            lifecycle=m["lifecycle"],
            licence_version=m["licence_version"],
            valid_from=valid_from,
            valid_until=aware(m["valid_until"]),
            reminded_stage=m["reminded_stage"],
            minted_leaf=LeafIndex(m["minted_leaf"]),
            last_leaf=LeafIndex(m["last_leaf"]),
            aggregate_version=m["aggregate_version"],
            fields=json.loads(m["fields"]),
            token=m["token"],
            imported=bool(m["imported"]),
            identifier_check_ok=bool(m["identifier_check_ok"]),
            display_name=m["display_name"],
            minted_at=aware(m["minted_at"]),
            token_kid=m["token_kid"],
        )


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One event of a licence's history: its leaf, kind, licence version, and the stored event."""

    leaf_index: LeafIndex
    kind: str
    licence_version: int
    topic: str
    state: bytes
    recorded_at: str


class LicenceStore(RegistryQueries):
    """Queries and same-transaction writes of the licence read models; shares the ledger's engine.

    The registry's queries (catalogue, issuers, keys) are inherited from `licences.store_registry.RegistryQueries`.
    """

    def __init__(self, ledger: LedgerStore) -> None:
        self.ledger = ledger
        self.engine = ledger.engine

    def create_tables(self) -> None:
        """Create the read-model tables, the registry's included (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)
        registry_metadata.create_all(self.engine)

    # -- licence_index --------------------------------------------------------------------------------------------

    def licence(self, licence_id: UUID) -> LicenceRow | None:
        """The row of one licence, or None."""
        with self.read() as conn:
            m = conn.execute(select(licence_index).where(licence_index.c.licence_id == str(licence_id))).mappings()
            row = m.first()
        return None if row is None else LicenceRow.from_mapping(row)

    def licence_by_identifier(self, identifier: str) -> LicenceRow | None:
        """The row of the licence that carries (or carried) this identifier, in one query (the online check's)."""
        query = (
            select(licence_index)
            .join(licence_identifiers, licence_identifiers.c.licence_id == licence_index.c.licence_id)
            .where(licence_identifiers.c.identifier == identifier)
        )
        with self.read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else LicenceRow.from_mapping(row)

    def holder_display(self, licence_id: UUID) -> tuple[str, str | None] | None:
        """(holder digest, masked display name) of one licence, or None if unknown: one indexed SELECT."""
        query = select(licence_index.c.holder_digest, licence_index.c.display_name).where(
            licence_index.c.licence_id == str(licence_id)
        )
        with self.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row[0], row[1])

    def licence_id_for_identifier(self, identifier: str) -> LicenceId | None:
        """The licence that carries (or carried) this identifier."""
        with self.read() as conn:
            found = conn.execute(
                select(licence_identifiers.c.licence_id).where(licence_identifiers.c.identifier == identifier)
            ).scalar()
        return None if found is None else LicenceId(UUID(found))

    def _licences(self, *conditions: Any, order: Any, limit: int) -> list[LicenceRow]:
        query = select(licence_index).where(*conditions).order_by(*order).limit(limit)
        with self.read() as conn:
            return [LicenceRow.from_mapping(m) for m in conn.execute(query).mappings()]

    def by_holder(self, holder_digest: str, limit: int = 1000) -> list[LicenceRow]:
        """A holder's licences, newest first."""
        return self._licences(
            licence_index.c.holder_digest == holder_digest, order=[licence_index.c.minted_leaf.desc()], limit=limit
        )

    def by_holders(self, holder_digests: Collection[str], chunk: int = 500) -> dict[str, list[LicenceRow]]:
        """The licences of each of `holder_digests` (every one, in minting order): one query per `chunk` holders,
        for a batch that checks each new licence's holder against the register."""
        wanted = sorted(set(holder_digests))
        found: dict[str, list[LicenceRow]] = {d: [] for d in wanted}
        with self.read() as conn:
            for start in range(0, len(wanted), chunk):
                part = wanted[start : start + chunk]
                query = (
                    select(licence_index)
                    .where(licence_index.c.holder_digest.in_(part))
                    .order_by(licence_index.c.minted_leaf)
                )
                for m in conn.execute(query).mappings():
                    row = LicenceRow.from_mapping(m)
                    found[row.holder_digest].append(row)
        return found

    def by_issuer(self, issuer: str, limit: int = 100, after: UUID | None = None) -> list[LicenceRow]:
        """An issuer's licences in id order, a keyset page after `after`."""
        conditions = [licence_index.c.issuer == issuer]
        if after is not None:
            conditions.append(licence_index.c.licence_id > str(after))
        return self._licences(*conditions, order=[licence_index.c.licence_id], limit=limit)

    def expiring_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[LicenceRow]:
        """Licences whose validity ends in [start, end), soonest first (the expiry index)."""
        return self._licences(
            licence_index.c.valid_until >= start,
            licence_index.c.valid_until < end,
            order=[licence_index.c.valid_until, licence_index.c.licence_id],
            limit=limit,
        )

    def first_licences(self, limit: int) -> list[LicenceRow]:
        """The first `limit` licences in minting order (what `serve` names when it starts on an existing home)."""
        return self._licences(order=[licence_index.c.minted_leaf, licence_index.c.licence_id], limit=limit)

    def count(self) -> int:
        """How many licences the library holds."""
        with self.read() as conn:
            return int(conn.execute(select(func.count()).select_from(licence_index)).scalar_one())

    @staticmethod
    def put_licence(conn: Connection, row: LicenceRow, *, new: bool) -> None:
        """Insert or update a licence row and record its current identifier."""
        values = row.values()
        if new:
            conn.execute(insert(licence_index).values(values))
        else:
            conn.execute(update(licence_index).where(licence_index.c.licence_id == values["licence_id"]).values(values))
        known = conn.execute(
            select(licence_identifiers.c.licence_id).where(licence_identifiers.c.identifier == row.identifier)
        ).scalar()
        if known is None:
            conn.execute(
                insert(licence_identifiers).values(
                    identifier=row.identifier, licence_id=str(row.licence_id), licence_version=row.licence_version
                )
            )

    @staticmethod
    def put_new_licences(conn: Connection, rows: Sequence[LicenceRow]) -> None:
        """Insert many new licences and their identifiers (two statements)."""
        if rows:
            conn.execute(insert(licence_index), [r.values() for r in rows])
            conn.execute(
                insert(licence_identifiers),
                [
                    {"identifier": r.identifier, "licence_id": str(r.licence_id), "licence_version": r.licence_version}
                    for r in rows
                ],
            )

    @staticmethod
    def add_history(conn: Connection, rows: Sequence[tuple[UUID, int, str, int]]) -> None:
        """Append (licence id, leaf index, kind, licence version) rows to the history index."""
        if rows:
            conn.execute(
                insert(licence_history),
                [{"licence_id": str(i), "leaf_index": leaf, "kind": k, "licence_version": v} for i, leaf, k, v in rows],
            )

    def history(self, licence_id: UUID) -> list[HistoryRow]:
        """A licence's lifecycle events and uses, with their stored events, in leaf order."""
        query = (
            select(
                licence_history.c.leaf_index,
                licence_history.c.kind,
                licence_history.c.licence_version,
                events_table.c.topic,
                events_table.c.state,
                events_table.c.recorded_at,
            )
            .join(events_table, events_table.c.leaf_index == licence_history.c.leaf_index)
            .where(licence_history.c.licence_id == str(licence_id))
            .order_by(licence_history.c.leaf_index)
        )
        with self.read() as conn:
            return [HistoryRow(LeafIndex(r[0]), r[1], r[2], r[3], bytes(r[4]), r[5]) for r in conn.execute(query)]

    def revocation_kind(self, licence_id: UUID) -> str | None:
        """The `kind` (voluntary 注销 / penalty 吊销) of the licence's revocation as its event records it, or None.

        One indexed SELECT of the revocation's history row and its stored event (a revoked licence is revoked once),
        no replay: the citizen's scan of a revoked licence reads it.
        """
        query = (
            select(events_table.c.state)
            .join(licence_history, events_table.c.leaf_index == licence_history.c.leaf_index)
            .where(licence_history.c.licence_id == str(licence_id), licence_history.c.kind == "revoked")
            .order_by(licence_history.c.leaf_index.desc())
            .limit(1)
        )
        with self.read() as conn:
            state = conn.execute(query).scalar()
        if state is None:
            return None
        kind = json.loads(bytes(state)).get("kind")
        return kind if isinstance(kind, str) else None

    def use_count(self, licence_id: UUID) -> int:
        """How many uses (accepted or refused) a licence has."""
        query = select(func.count()).where(
            licence_history.c.licence_id == str(licence_id), licence_history.c.kind == "invoked"
        )
        with self.read() as conn:
            return int(conn.execute(query).scalar_one())

    # -- serials ----------------------------------------------------------------------------------------------------

    def reserve_serials(self, type_code: str, issuer: str, year: int, count: int) -> int:
        """Reserve `count` consecutive serials and return the first, under the log's writer lock.

        Called inside a command's unit of work, the reservation commits or rolls back with the licences it numbers;
        concurrent issuers never share a serial.
        """
        key = and_(
            licence_serials.c.type_code == type_code, licence_serials.c.issuer == issuer, licence_serials.c.year == year
        )
        with self.ledger.write() as conn:
            current = conn.execute(select(licence_serials.c.next_serial).where(key)).scalar()
            if current is None:
                conn.execute(
                    insert(licence_serials).values(type_code=type_code, issuer=issuer, year=year, next_serial=1 + count)
                )
                return 1
            conn.execute(update(licence_serials).where(key).values(next_serial=current + count))
            return int(current)

    # -- idempotency ------------------------------------------------------------------------------------------------

    def idempotent_result(self, scope: str, key: str) -> tuple[str, dict[str, Any]] | None:
        """(request fingerprint, stored result) of an earlier command with this key, or None."""
        with self.read() as conn:
            row = conn.execute(
                select(idempotency_keys.c.request_hash, idempotency_keys.c.result).where(
                    idempotency_keys.c.scope == scope, idempotency_keys.c.key == key
                )
            ).first()
        return None if row is None else (row[0], json.loads(row[1]))

    @staticmethod
    def put_idempotent_result(
        conn: Connection,
        scope: str,
        key: str,
        fingerprint: str,
        result: dict[str, Any],
        *,
        licence_id: str | None = None,
    ) -> None:
        """Remember a command's result under its key and the keyed fingerprint of its request (a duplicate key makes
        the whole transaction fail); `licence_id` links the record to the licence it is about."""
        conn.execute(
            insert(idempotency_keys).values(
                scope=scope,
                key=key,
                request_hash=fingerprint,
                result=json.dumps(result, sort_keys=True),
                licence_id=licence_id,
            )
        )

    # -- holder keys ------------------------------------------------------------------------------------------------

    def wrapped_holder_key(self, holder_ref: str) -> bytes | None:
        """The wrapped key of a holder, or None (never created, or shredded)."""
        with self.read() as conn:
            value = conn.execute(
                select(holder_keys.c.wrapped_key).where(holder_keys.c.holder_ref == holder_ref)
            ).scalar()
        return None if value is None else bytes(value)

    def wrapped_holder_keys(self, holder_refs: Sequence[str]) -> dict[str, bytes]:
        """The wrapped keys of the holders that have one."""
        found: dict[str, bytes] = {}
        with self.read() as conn:
            for start in range(0, len(holder_refs), 500):
                chunk = list(holder_refs[start : start + 500])
                query = select(holder_keys.c.holder_ref, holder_keys.c.wrapped_key).where(
                    holder_keys.c.holder_ref.in_(chunk)
                )
                found.update((r[0], bytes(r[1])) for r in conn.execute(query))
        return found

    def add_wrapped_holder_keys(self, wrapped: dict[str, bytes]) -> dict[str, bytes]:
        """Store keys for holders that have none; returns what is stored for them (first writer wins)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(holder_keys), [{"holder_ref": r, "wrapped_key": w} for r, w in wrapped.items()])
        except IntegrityError:  # a concurrent writer created some of them: keep theirs
            for ref, key in wrapped.items():
                try:
                    with self.engine.begin() as conn:
                        conn.execute(insert(holder_keys).values(holder_ref=ref, wrapped_key=key))
                except IntegrityError:
                    continue
        return self.wrapped_holder_keys(sorted(wrapped))

    @staticmethod
    def insert_wrapped_holder_keys(conn: Connection, wrapped: dict[str, bytes]) -> None:
        """Store new holders' wrapped keys inside a command's transaction (a concurrent creator makes it fail)."""
        if wrapped:
            conn.execute(insert(holder_keys), [{"holder_ref": r, "wrapped_key": w} for r, w in wrapped.items()])

    def delete_holder_key(self, holder_ref: str) -> bool:
        """Shred: delete the holder's key row, clear the display name of the holder's licences and blind the
        idempotency records about them (their fingerprints covered the holder's name and number); True if there was
        a key.

        One transaction under the log's writer (joining the caller's unit of work, if any): a command that read the
        key before the shred cannot commit a display name after it (`holder_ref` is the holder digest).
        """
        with self.ledger.write() as conn:
            conn.execute(
                update(licence_index).where(licence_index.c.holder_digest == holder_ref).values(display_name=None)
            )
            holders_licences = select(licence_index.c.licence_id).where(licence_index.c.holder_digest == holder_ref)
            conn.execute(
                update(idempotency_keys)
                .where(idempotency_keys.c.licence_id.in_(holders_licences))
                .values(request_hash=SHREDDED_FINGERPRINT)
            )
            return conn.execute(delete(holder_keys).where(holder_keys.c.holder_ref == holder_ref)).rowcount == 1
