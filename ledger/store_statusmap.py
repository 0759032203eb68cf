"""The status map's SQL (tables in ledger/store_tables.py): versioned nodes and values, read as of a log size."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ledger.store_tables import nodes_table, values_table

if TYPE_CHECKING:
    from sqlalchemy import Connection


_NEWEST = 2**63 - 1  # `map_size` ≤ this: every row


@cache
def _nodes_sql(mark: str, count: int) -> str:
    # One index seek per key, however many versions a key has (the root has one per map update): the keys are a
    # VALUES list, each joined to its newest row ≤ the size found by a correlated `ORDER BY ... LIMIT 1`.
    keys = ", ".join([f"({mark})"] * count)
    return (
        f"WITH wanted(k) AS (VALUES {keys}) "  # noqa: S608 - placeholders only, no data
        "SELECT n.node_key, n.hash, n.leaf_path, n.value_hash FROM wanted "
        "JOIN status_map_nodes n ON n.node_key = wanted.k AND n.map_size = ("
        "SELECT m.map_size FROM status_map_nodes m "
        f"WHERE m.node_key = wanted.k AND m.map_size <= {mark} ORDER BY m.map_size DESC LIMIT 1)"
    )


def _mark(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def select_nodes(conn: Connection, keys: Sequence[bytes], size: int | None) -> list[tuple[Any, ...]]:
    """(node_key, hash, leaf_path, value_hash) of each key's newest row at `map_size` ≤ `size` (None: newest).

    Raw SQL on the driver's cursor: proofs are latency-bound, and SQLAlchemy's statement building, expanding `IN`
    and result rows cost more than the query (≈ 0.5 ms of a 0.9 ms proof at 100k entries)."""
    if not keys:
        return []
    params = (*keys, _NEWEST if size is None else size)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_nodes_sql(_mark(conn), len(keys)), params)
        return [tuple(r) for r in cursor.fetchall()]
    finally:
        cursor.close()


def select_value(conn: Connection, path: bytes, size: int | None) -> str | None:
    """The newest value at `path` with `map_size` ≤ `size` (None: newest)."""
    mark = _mark(conn)
    query = (
        f"SELECT value FROM status_map_values WHERE path = {mark} AND map_size <= {mark} "  # noqa: S608 - no data
        "ORDER BY map_size DESC LIMIT 1"
    )
    found = conn.exec_driver_sql(query, (path, _NEWEST if size is None else size)).scalar()
    return None if found is None else str(found)


def any_value(conn: Connection) -> bool:
    """Whether any value row exists."""
    return conn.execute(select(values_table.c.map_size).limit(1)).first() is not None


def any_node(conn: Connection) -> bool:
    """Whether any node row exists."""
    return conn.execute(select(nodes_table.c.map_size).limit(1)).first() is not None


def select_newest_of_streams(conn: Connection, streams: Sequence[str]) -> list[tuple[Any, ...]]:
    """(stream, value) of the rows at each stream's newest `map_size`."""
    v, w = values_table, values_table.alias("newer")
    newest = select(func.max(w.c.map_size)).where(w.c.stream == v.c.stream).scalar_subquery()
    query = select(v.c.stream, v.c.value).where(v.c.stream.in_(streams), v.c.map_size == newest)
    return [tuple(r) for r in conn.execute(query)]


def insert_node_tuples(conn: Connection, rows: Sequence[tuple[bytes, int, bytes, bytes | None, bytes | None]]) -> None:
    """Insert node rows given as (node_key, map_size, hash, leaf_path, value_hash) tuples, one driver executemany
    (SQLAlchemy's per-row parameter processing costs more than SQLite's insert)."""
    if rows:
        marks = ", ".join([_mark(conn)] * 5)
        conn.exec_driver_sql(
            f"INSERT INTO status_map_nodes (node_key, map_size, hash, leaf_path, value_hash) VALUES ({marks})",  # noqa: S608
            list(rows),
        )


def insert_values(conn: Connection, rows: Sequence[tuple[bytes, int, str, str]]) -> None:
    """Insert value rows (path, map_size, stream, value), one driver executemany."""
    if rows:
        marks = ", ".join([_mark(conn)] * 4)
        conn.exec_driver_sql(
            f"INSERT INTO status_map_values (path, map_size, stream, value) VALUES ({marks})",  # noqa: S608
            list(rows),
        )
