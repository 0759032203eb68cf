"""The registry's read models (DESIGN §5): the catalogue (`registry_entries`), the issuers (`registry_issuers`) and the
registered keys' lifecycles (`registry_keys`), written in the same transaction as the registry events they reflect.

The tables have their own `metadata` (collected by trustledger/migrations/schema.py); the queries are the
`RegistryQueries` half of `licences.store.LicenceStore`, which creates these tables with its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from ledger.store import LedgerStore
from ledger.store_columns import LEAF, WHEN, aware

metadata = MetaData()

registry_entries = Table(
    "registry_entries",
    metadata,
    Column("kind", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("leaf_index", LEAF, nullable=False),
    PrimaryKeyConstraint("kind", "key", name="pk_registry_entries"),
)

registry_issuers = Table(
    "registry_issuers",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", Text, nullable=False),
    Column("region_code", String(6), nullable=False),
    Column("licence_types", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("leaf_index", LEAF, nullable=False),
)

registry_keys = Table(
    "registry_keys",
    metadata,
    Column("kid", String(16), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("alg", Integer, nullable=False),
    Column("public_key", Text, nullable=False),
    Column("not_before", WHEN, nullable=False),
    Column("not_after", WHEN, nullable=True),
    Column("retired_at", WHEN, nullable=True),
    Column("compromised_since", WHEN, nullable=True),
    Column("version", Integer, nullable=False),
    Column("leaf_index", LEAF, nullable=False),
    Index("ix_registry_keys_owner", "owner"),
)


@dataclass(frozen=True, slots=True)
class KeyRow:
    """One row of `registry_keys`."""

    kid: str
    owner: str
    purpose: str
    alg: int
    public_key: str
    not_before: datetime
    not_after: datetime | None
    retired_at: datetime | None
    compromised_since: datetime | None
    version: int
    leaf_index: int


@dataclass(frozen=True, slots=True)
class IssuerRow:
    """One row of `registry_issuers`."""

    uscc: str
    name: str
    region_code: str
    licence_types: tuple[str, ...]
    position: int
    leaf_index: int


class RegistryQueries:
    """Queries and same-transaction writes of the registry read models (mixed into `LicenceStore`)."""

    ledger: LedgerStore

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction, or the open unit of work's own when called inside one (see `LedgerStore.write`)."""
        with self.ledger.read() as conn:
            yield conn

    def registry_entry(self, kind: str, key: str) -> tuple[dict[str, Any], str, int] | None:
        """(document, digest, stream version) of a catalogue entry, or None."""
        with self.read() as conn:
            row = conn.execute(
                select(registry_entries.c.document, registry_entries.c.digest, registry_entries.c.version).where(
                    registry_entries.c.kind == kind, registry_entries.c.key == key
                )
            ).first()
        return None if row is None else (json.loads(row[0]), row[1], row[2])

    def registry_documents(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Every catalogue entry of a kind, as (key, document), in publication order."""
        query = (
            select(registry_entries.c.key, registry_entries.c.document)
            .where(registry_entries.c.kind == kind)
            .order_by(registry_entries.c.leaf_index)
        )
        with self.read() as conn:
            return [(r[0], json.loads(r[1])) for r in conn.execute(query)]

    def registry_stamp(self) -> str:
        """Changes whenever the catalogue changes: the newest catalogue leaf and the entry count."""
        with self.read() as conn:
            row = conn.execute(
                select(func.max(registry_entries.c.leaf_index), func.count()).select_from(registry_entries)
            ).one()
        return f"{row[0]}:{row[1]}"

    @staticmethod
    def put_registry_entry(
        conn: Connection, kind: str, key: str, document: dict[str, Any], digest: str, version: int, leaf: int
    ) -> None:
        """Insert or replace one catalogue entry."""
        conn.execute(delete(registry_entries).where(registry_entries.c.kind == kind, registry_entries.c.key == key))
        conn.execute(
            insert(registry_entries).values(
                kind=kind,
                key=key,
                document=json.dumps(document, ensure_ascii=False, sort_keys=True),
                digest=digest,
                version=version,
                leaf_index=leaf,
            )
        )

    @staticmethod
    def put_issuer(conn: Connection, row: IssuerRow) -> None:
        """Insert or replace one issuer."""
        conn.execute(delete(registry_issuers).where(registry_issuers.c.uscc == row.uscc))
        conn.execute(
            insert(registry_issuers).values(
                uscc=row.uscc,
                name=row.name,
                region_code=row.region_code,
                licence_types=json.dumps(list(row.licence_types)),
                position=row.position,
                leaf_index=row.leaf_index,
            )
        )

    def issuers(self) -> list[IssuerRow]:
        """Every registered issuer, in catalogue order."""
        query = select(registry_issuers).order_by(registry_issuers.c.position, registry_issuers.c.uscc)
        with self.read() as conn:
            return [
                IssuerRow(
                    m["uscc"],
                    m["name"],
                    m["region_code"],
                    tuple(json.loads(m["licence_types"])),
                    m["position"],
                    m["leaf_index"],
                )
                for m in conn.execute(query).mappings()
            ]

    def key_stamp(self) -> str:
        """Changes whenever a key event is projected: the key count, the sum of their stream versions (every retire or
        compromise adds one) and the newest registration leaf. One aggregate over a small table."""
        query = select(
            func.count(), func.coalesce(func.sum(registry_keys.c.version), 0), func.max(registry_keys.c.leaf_index)
        ).select_from(registry_keys)
        with self.read() as conn:
            row = conn.execute(query).one()
        return f"{row[0]}:{row[1]}:{row[2]}"

    @staticmethod
    def put_key(conn: Connection, row: KeyRow) -> None:
        """Insert or replace one key's lifecycle row."""
        conn.execute(delete(registry_keys).where(registry_keys.c.kid == row.kid))
        conn.execute(
            insert(registry_keys).values(
                kid=row.kid,
                owner=row.owner,
                purpose=row.purpose,
                alg=row.alg,
                public_key=row.public_key,
                not_before=row.not_before,
                not_after=row.not_after,
                retired_at=row.retired_at,
                compromised_since=row.compromised_since,
                version=row.version,
                leaf_index=row.leaf_index,
            )
        )

    def keys(self, owner: str | None = None) -> list[KeyRow]:
        """Registered keys (of one owner), oldest first."""
        query = select(registry_keys).order_by(registry_keys.c.leaf_index)
        if owner is not None:
            query = query.where(registry_keys.c.owner == owner)
        with self.read() as conn:
            return [
                KeyRow(
                    m["kid"],
                    m["owner"],
                    m["purpose"],
                    m["alg"],
                    m["public_key"],
                    aware(m["not_before"]) or datetime.min.replace(tzinfo=UTC),
                    aware(m["not_after"]),
                    aware(m["retired_at"]),
                    aware(m["compromised_since"]),
                    m["version"],
                    m["leaf_index"],
                )
                for m in conn.execute(query).mappings()
            ]
