"""The ledger's tables, in one `MetaData`: events with their leaves, full tiles, signed checkpoints, and the status
map's versioned nodes and values (DESIGN §4, §4b). The Alembic migrations create the same tables
(tests/trustledger/test_migrations.py checks they do not drift)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()
_pk_int = BigInteger().with_variant(Integer, "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid: no extra index

events_table = Table(
    "ledger_events",
    metadata,
    Column("leaf_index", _pk_int, primary_key=True, autoincrement=False),
    Column("stream", String(255), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("topic", Text, nullable=False),
    Column("state", LargeBinary, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    UniqueConstraint("stream", "version", name="uq_ledger_events_stream_version"),
)

tiles_table = Table(
    "ledger_tiles",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

checkpoints_table = Table(
    "ledger_checkpoints",
    metadata,
    Column("seq", _pk_int, primary_key=True, autoincrement=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("signed_at", String(32), nullable=False),
)


nodes_table = Table(
    "status_map_nodes",
    metadata,
    Column("node_key", LargeBinary(34), primary_key=True),
    Column("map_size", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("leaf_path", LargeBinary(32), nullable=True),  # set on leaf nodes: the entry's path
    Column("value_hash", LargeBinary(32), nullable=True),  # set on leaf nodes: SHA-256 of the entry's value
    sqlite_with_rowid=False,  # rows live in the primary-key B-tree: one descent per node read, not two
)

values_table = Table(
    "status_map_values",
    metadata,
    Column("path", LargeBinary(32), primary_key=True),
    Column("map_size", BigInteger, primary_key=True, autoincrement=False),
    Column("stream", String(255), nullable=False),  # the licence's stream: its current version is its newest row
    Column("value", Text, nullable=False),
    Index("ix_status_map_values_stream", "stream", "map_size"),
    sqlite_with_rowid=False,
)
