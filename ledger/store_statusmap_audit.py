"""SQL for auditing the status map (DESIGN §4b): a scratch map to re-derive into, and the newest rows of a map.

The audit rebuilds the map from the events into a scratch SQLite database (a temporary file, deleted afterwards) with
the same `StatusMapStore`, so memory stays flat however large the map; then it compares the newest row of every node
and value, in key order, page by page, with the stored map.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, create_engine, func, select

from ledger.store_tables import metadata, nodes_table, values_table

PAGE = 2000
NodeRow = tuple[bytes, bytes, bytes | None, bytes | None]  # node_key, hash, leaf_path, value_hash
ValueRow = tuple[bytes, str, str]  # path, stream, value


@contextmanager
def scratch_status_map() -> Iterator[Connection]:
    """A connection to an empty status map in a temporary SQLite file, in one transaction never committed."""
    with tempfile.TemporaryDirectory(prefix="trustledger-audit-") as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'status-map.sqlite'}")
        try:
            metadata.create_all(engine, tables=[nodes_table, values_table])
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode = OFF")
                conn.exec_driver_sql("PRAGMA synchronous = OFF")
                conn.commit()
                with conn.begin():
                    yield conn
        finally:
            engine.dispose()


def _newest(conn: Connection, table: Table, key: str, columns: list[str], page: int) -> Iterator[Any]:
    """The newest row (greatest `map_size`) of every key, in key order, a keyset page at a time."""
    k, size = table.c[key], table.c.map_size
    after: bytes | None = None
    while True:
        newest = select(k.label("key"), func.max(size).label("size")).group_by(k).order_by(k).limit(page)
        if after is not None:
            newest = newest.where(k > after)
        sub = newest.subquery()
        query = (
            select(*(table.c[c] for c in columns))
            .join_from(table, sub, (k == sub.c.key) & (size == sub.c.size))
            .order_by(k)
        )
        rows = conn.execute(query).all()
        if not rows:
            return
        yield from rows
        after = bytes(rows[-1][0])


def newest_nodes(conn: Connection, page: int = PAGE) -> Iterator[NodeRow]:
    """(node_key, hash, leaf_path, value_hash) of every node of the newest map, by key."""
    for key, digest, leaf_path, value_digest in _newest(
        conn, nodes_table, "node_key", ["node_key", "hash", "leaf_path", "value_hash"], page
    ):
        yield bytes(key), bytes(digest), _opt(leaf_path), _opt(value_digest)


def newest_values(conn: Connection, page: int = PAGE) -> Iterator[ValueRow]:
    """(path, stream, value) of every entry of the newest map, by path."""
    for path, stream, value in _newest(conn, values_table, "path", ["path", "stream", "value"], page):
        yield bytes(path), str(stream), str(value)


def _opt(data: Any) -> bytes | None:
    return None if data is None else bytes(data)


__all__ = ["NodeRow", "ValueRow", "newest_nodes", "newest_values", "scratch_status_map"]
