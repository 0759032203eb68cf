"""SQL for the audit's anchor check: every checkpoint a timestamp or a cosignature was stored for, by tree size."""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from sqlalchemy import Connection, Table, and_, or_, select

from anchors.store import cosignatures_table, timestamps_table

PAGE = 2000
Anchored = tuple[int, bytes, str]  # tree size, SHA-256 of the note, what is stored for it


def _pages(conn: Connection, table: Table, what: str, page: int) -> Iterator[Anchored]:
    """Distinct (tree_size, note_sha256) of one table in that order, a keyset page at a time."""
    size, digest = table.c.tree_size, table.c.note_sha256
    after: tuple[int, bytes] | None = None
    while True:
        query = select(size, digest).distinct().order_by(size, digest).limit(page)
        if after is not None:
            query = query.where(or_(size > after[0], and_(size == after[0], digest > after[1])))
        rows = [(int(s), bytes(d)) for s, d in conn.execute(query)]
        if not rows:
            return
        yield from ((s, d, what) for s, d in rows)
        after = rows[-1]


def anchored_checkpoints(conn: Connection, page: int = PAGE) -> Iterator[Anchored]:
    """Every anchored checkpoint (timestamp tokens and cosignatures), ordered by tree size then note hash."""
    return heapq.merge(
        _pages(conn, timestamps_table, "a timestamp token", page),
        _pages(conn, cosignatures_table, "cosignatures", page),
    )


__all__ = ["Anchored", "anchored_checkpoints"]
