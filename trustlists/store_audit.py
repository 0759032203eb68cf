"""SQL of the trust list audit (DESIGN §4, §6): the published versions, read on the audit's own connection.

The audit reads the version numbers and issue times first (a few hundred a year), then each version's row when it
checks it, so a region's whole history of trust lists is never held at once. SQL lives here only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from trustlists.store import TrustListRow, _row, trust_lists


def version_times(conn: Connection) -> list[tuple[int, datetime]]:
    """(version, issued_at) of every published version, oldest version first."""
    query = select(trust_lists.c.version, trust_lists.c.issued_at).order_by(trust_lists.c.version)
    return [(int(v), at) for v, at in conn.execute(query)]


def version_row(conn: Connection, version: int) -> TrustListRow:
    """The stored row of one published version (listed by `version_times` on the same snapshot)."""
    return _row(conn.execute(select(trust_lists).where(trust_lists.c.version == version)).one())


__all__ = ["version_row", "version_times"]
