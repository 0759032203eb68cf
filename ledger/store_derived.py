"""SQL for auditing derived tables (DESIGN §4): a scratch database to re-derive into, and any table's rows by key.

The audit folds the events into copies of the derived tables (the same `Table` definitions) in a scratch SQLite
database, a temporary file deleted afterwards, so memory stays flat however many licences there are; then it reads
the stored and the derived rows in key order, a keyset page at a time, and compares them. Keys are ordered bytewise
on every backend (`COLLATE "C"` on PostgreSQL, SQLite's default BINARY), which is also Python's `str` order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, create_engine, insert, select, tuple_

PAGE = 2000


@contextmanager
def scratch_database(tables: Sequence[Table]) -> Iterator[Connection]:
    """A connection to empty copies of `tables` in a temporary SQLite file, in one transaction never committed."""
    with tempfile.TemporaryDirectory(prefix="trustledger-derived-") as folder:
        engine = create_engine(f"sqlite:///{Path(folder) / 'derived.sqlite'}")
        try:
            copies = MetaData()
            for table in tables:
                table.to_metadata(copies)
            copies.create_all(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA journal_mode = OFF")
                conn.exec_driver_sql("PRAGMA synchronous = OFF")
                conn.commit()
                with conn.begin():
                    yield conn
        finally:
            engine.dispose()


def _ordered(conn: Connection, column: Column[Any]) -> Any:
    if conn.dialect.name == "postgresql" and isinstance(column.type, String):
        return column.collate("C")
    return column


def keyed_rows(
    conn: Connection, table: Table, key: Sequence[str], columns: Sequence[str], page: int = PAGE
) -> Iterator[tuple[Any, ...]]:
    """Rows of `table` as tuples of the `key` columns then `columns`, in bytewise key order, page by page."""
    keys = [_ordered(conn, table.c[k]) for k in key]
    wanted = [table.c[k] for k in key] + [table.c[c] for c in columns]
    after: tuple[Any, ...] | None = None
    while True:
        query = select(*wanted).order_by(*keys).limit(page)
        if after is not None:
            query = query.where(tuple_(*keys) > tuple_(*after) if len(keys) > 1 else keys[0] > after[0])
        rows = [tuple(r) for r in conn.execute(query)]
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1][: len(key)]


def by_key(conn: Connection, table: Table, key: str, values: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """The rows of `table` whose `key` is one of `values`, as column mappings by key."""
    found: dict[Any, dict[str, Any]] = {}
    for start in range(0, len(values), 500):
        query = select(table).where(table.c[key].in_(list(values[start : start + 500])))
        found.update((m[key], dict(m)) for m in conn.execute(query).mappings())
    return found


def put_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], *, on_conflict: str = "") -> None:
    """Insert rows into a scratch (SQLite) table; `on_conflict` "REPLACE" or "IGNORE" for SQLite's `INSERT OR …`."""
    if rows:
        statement = insert(table)
        if on_conflict:
            statement = statement.prefix_with(f"OR {on_conflict}")
        conn.execute(statement, list(rows))


__all__ = ["by_key", "keyed_rows", "put_rows", "scratch_database"]
