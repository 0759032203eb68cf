"""Storage of cross-region verification (SQLAlchemy Core, SQLite and PostgreSQL): the versioned acceptance rules and
the peer leaves whose inclusion this region proved (so a licence checked once needs no proof from its region again).

Tables are created by the Alembic revision 0009_crossregion (branch `anchors`); `create_tables` is for tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy import exc as sa_exc

from anchors.acceptance import AcceptanceRule
from anchors.errors import AnchorStoreError
from anchors.model import format_time, parse_time

metadata = MetaData()

acceptance_table = Table(
    "anchor_acceptance_rules",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("version", BigInteger, primary_key=True, autoincrement=False),
    Column("licence_types", Text, nullable=False),  # JSON list, sorted
    Column("set_at", String(32), nullable=False),
    Column("note", Text, nullable=False),
)

peer_leaves_table = Table(
    "anchor_peer_leaves",
    metadata,
    Column("origin", String(255), primary_key=True),
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_data", LargeBinary, nullable=False),
    Column("tree_size", BigInteger, nullable=False),  # the verified peer checkpoint the proof is against
    Column("proof", Text, nullable=False),  # JSON list of base64 hashes
    Column("verified_at", String(32), nullable=False),
)


@dataclass(frozen=True)
class ProvenLeaf:
    """A peer leaf this region proved included under its stored checkpoint of `tree_size`."""

    origin: str
    leaf_index: int
    leaf_data: bytes
    tree_size: int
    proof: tuple[bytes, ...]
    verified_at: datetime


def _rule(row: object) -> AcceptanceRule:
    r = row._mapping  # type: ignore[attr-defined]
    return AcceptanceRule(
        origin=r["origin"],
        version=int(r["version"]),
        licence_types=tuple(json.loads(r["licence_types"])),
        set_at=parse_time(r["set_at"]),
        note=r["note"],
    )


class CrossRegionStore:
    """The acceptance rules and proven peer leaves of one region database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    def create_tables(self) -> None:
        """Create the tables directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.info["begin_mode"] = "IMMEDIATE"  # honoured by ledger.store.make_engine's begin hook
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    # -- acceptance rules ------------------------------------------------------------------------------------------

    def add_rule(self, origin: str, licence_types: Sequence[str], note: str, now: datetime) -> AcceptanceRule:
        """Store the next version of the rule for `origin` (never an edit); concurrent writers get distinct versions."""
        t = acceptance_table
        for _ in range(5):  # two writers may pick one version on PostgreSQL; the primary key makes one of them retry
            try:
                with self._write() as conn:
                    latest = conn.execute(select(func.max(t.c.version)).where(t.c.origin == origin)).scalar()
                    rule = AcceptanceRule(origin, int(latest or 0) + 1, tuple(licence_types), now, note)
                    conn.execute(
                        insert(t).values(
                            origin=origin,
                            version=rule.version,
                            licence_types=json.dumps(list(rule.licence_types)),
                            set_at=format_time(now),
                            note=note,
                        )
                    )
                return rule
            except sa_exc.IntegrityError:
                continue
        raise AnchorStoreError(f"could not store a new acceptance rule for {origin}: too many concurrent changes")

    def latest_rule(self, origin: str) -> AcceptanceRule | None:
        """The rule in force for `origin` (its newest version), or None if none was ever set."""
        t = acceptance_table
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.origin == origin).order_by(t.c.version.desc()).limit(1)).first()
        return None if row is None else _rule(row)

    def rules(self, origin: str | None = None) -> list[AcceptanceRule]:
        """Every version of every rule (or of one origin's), oldest first."""
        t = acceptance_table
        query = select(t).order_by(t.c.origin, t.c.version)
        if origin is not None:
            query = query.where(t.c.origin == origin)
        with self._read() as conn:
            return [_rule(r) for r in conn.execute(query).all()]

    # -- proven peer leaves ----------------------------------------------------------------------------------------

    def save_leaf(self, leaf: ProvenLeaf) -> None:
        """Keep a proven leaf; if one is already stored for that index the first one stays."""
        values = {
            "origin": leaf.origin,
            "leaf_index": leaf.leaf_index,
            "leaf_data": leaf.leaf_data,
            "tree_size": leaf.tree_size,
            "proof": json.dumps([h.hex() for h in leaf.proof]),
            "verified_at": format_time(leaf.verified_at),
        }
        try:
            with self._write() as conn:
                conn.execute(insert(peer_leaves_table).values(**values))
        except sa_exc.IntegrityError:
            return

    def leaf(self, origin: str, leaf_index: int) -> ProvenLeaf | None:
        """The proven leaf of `origin` at `leaf_index`, or None."""
        t = peer_leaves_table
        with self._read() as conn:
            row = conn.execute(select(t).where(t.c.origin == origin, t.c.leaf_index == leaf_index)).first()
        if row is None:
            return None
        r = row._mapping
        return ProvenLeaf(
            origin=r["origin"],
            leaf_index=int(r["leaf_index"]),
            leaf_data=bytes(r["leaf_data"]),
            tree_size=int(r["tree_size"]),
            proof=tuple(bytes.fromhex(h) for h in json.loads(r["proof"])),
            verified_at=parse_time(r["verified_at"]),
        )
