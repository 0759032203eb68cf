"""Storage of the verify API: the `api_keys` table (migration branch "api", 0005_api) and two small reads.

SQL of this package lives here only. Keys are stored as SHA-256 digests (see `verify_api.apikeys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, insert, select, text, update

from ledger.store import Checkpoint, checkpoints_table
from verify_api.apikeys import ApiKeyRecord, Role, check_principal, key_hash, new_key, split_key
from verify_api.errors import ApiKeyError

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(12), primary_key=True),
    Column("key_hash", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("principal", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)


@dataclass(frozen=True)
class CreatedKey:
    """A newly created key: its record and the full key, which is shown this once and never again."""

    record: ApiKeyRecord
    key: str


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite keeps no zone: what went in as UTC comes back naive.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _record(row: Sequence[Any]) -> ApiKeyRecord:
    key_id, digest, role, principal, name, created_at, revoked_at = tuple(row)
    created = _aware(created_at)
    assert created is not None
    return ApiKeyRecord(key_id, Role(role), principal, name, created, _aware(revoked_at), digest)


_COLUMNS = (
    api_keys.c.key_id,
    api_keys.c.key_hash,
    api_keys.c.role,
    api_keys.c.principal,
    api_keys.c.name,
    api_keys.c.created_at,
    api_keys.c.revoked_at,
)


class ApiKeyStore:
    """API keys of one region database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, role: Role, principal: str, name: str, now: datetime) -> CreatedKey:
        """Create a key for `role` acting as `principal`; returns the full key once."""
        principal = check_principal(role, principal)
        if len(name) > 128:
            raise ApiKeyError("name must be at most 128 characters")
        key_id, key = new_key()
        record = ApiKeyRecord(key_id, role, principal, name, now, None, key_hash(key))
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_keys).values(
                    key_id=key_id,
                    key_hash=record.key_hash,
                    role=role.value,
                    principal=principal,
                    name=name,
                    created_at=now,
                )
            )
        return CreatedKey(record, key)

    def list(self) -> list[ApiKeyRecord]:
        """Every key, oldest first (revoked ones included, marked)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(*_COLUMNS).order_by(api_keys.c.created_at, api_keys.c.key_id)).all()
        return [_record(r) for r in rows]

    def get(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*_COLUMNS).where(api_keys.c.key_id == key_id)).first()
        return None if row is None else _record(row)

    def revoke(self, key_id: str, now: datetime) -> ApiKeyRecord:
        """Revoke a key from now on (idempotent: a revoked key keeps its first revocation time)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        record = self.get(key_id)
        if record is None:
            raise ApiKeyError(f"no API key {key_id}")
        return record

    def lookup(self, presented: str) -> ApiKeyRecord | None:
        """The stored record named by a presented key's id (the caller compares digests), or None."""
        key_id = split_key(presented)
        return None if key_id is None else self.get(key_id)


def ping(engine: Engine) -> None:
    """One round trip to the database (raises if it is unreachable)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def checkpoint_of_size(engine: Engine, tree_size: int) -> Checkpoint | None:
    """The first signed checkpoint of exactly `tree_size` leaves, or None (auditors pick an older one by size)."""
    c = checkpoints_table.c
    with engine.connect() as conn:
        row = conn.execute(
            select(c.seq, c.tree_size, c.root_hash, c.note, c.prev_hash, c.signed_at)
            .where(c.tree_size == tree_size)
            .order_by(c.seq)
            .limit(1)
        ).first()
    if row is None:
        return None
    return Checkpoint(row[0], row[1], bytes(row[2]), row[3], bytes(row[4]), row[5])
