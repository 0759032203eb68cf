"""The status map's SQL (tables in ledger/store_tables.py): versioned nodes and values, read as of a log size."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ledger.store_tables import nodes_table, values_table

if TYPE_CHECKING:
    from sqlalchemy import Connection


def select_nodes(conn: Connection, keys: Sequence[bytes], size: int | None) -> list[tuple[Any, ...]]:
    """(node_key, hash, leaf_path, value_hash) of each key's newest row at `map_size` ≤ `size` (None: newest)."""
    n, m = nodes_table, nodes_table.alias("newer")
    newest = select(func.max(m.c.map_size)).where(m.c.node_key == n.c.node_key)
    if size is not None:
        newest = newest.where(m.c.map_size <= size)
    query = select(n.c.node_key, n.c.hash, n.c.leaf_path, n.c.value_hash).where(
        n.c.node_key.in_(keys), n.c.map_size == newest.scalar_subquery()
    )
    return [tuple(r) for r in conn.execute(query)]


def select_value(conn: Connection, path: bytes, size: int | None) -> str | None:
    """The newest value at `path` with `map_size` ≤ `size` (None: newest)."""
    v = values_table.c
    query = select(v.value).where(v.path == path)
    if size is not None:
        query = query.where(v.map_size <= size)
    found = conn.execute(query.order_by(v.map_size.desc()).limit(1)).scalar()
    return None if found is None else str(found)


def any_value(conn: Connection) -> bool:
    """Whether any value row exists."""
    return conn.execute(select(values_table.c.map_size).limit(1)).first() is not None


def select_newest_of_streams(conn: Connection, streams: Sequence[str]) -> list[tuple[Any, ...]]:
    """(stream, value) of the rows at each stream's newest `map_size`."""
    v, w = values_table, values_table.alias("newer")
    newest = select(func.max(w.c.map_size)).where(w.c.stream == v.c.stream).scalar_subquery()
    query = select(v.c.stream, v.c.value).where(v.c.stream.in_(streams), v.c.map_size == newest)
    return [tuple(r) for r in conn.execute(query)]


def insert_nodes(conn: Connection, rows: Sequence[dict[str, object]]) -> None:
    """Insert node rows (node_key, map_size, hash, leaf_path, value_hash)."""
    if rows:
        conn.execute(nodes_table.insert(), list(rows))


def insert_values(conn: Connection, rows: Sequence[tuple[bytes, int, str, str]]) -> None:
    """Insert value rows (path, map_size, stream, value)."""
    if rows:
        conn.execute(
            values_table.insert(), [{"path": p, "map_size": n, "stream": s, "value": v} for p, n, s, v in rows]
        )
