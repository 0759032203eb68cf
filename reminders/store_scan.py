"""Reminder scans over the `licence_index` read model (SQL lives here): who is due, what expires in a month.

The due scan is one range over the `valid_until` index for the union of every type's reminder windows; a CASE
expression maps each (type, `valid_until`) to its current stage, and the predicate keeps active licences whose
`reminded_stage` is wider than that stage (or unset). Keyset pages on (`valid_until`, `licence_id`), so a pass over a
million licences never holds one long transaction or skips a row that another worker just updated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Engine, and_, case, func, literal, or_, select, tuple_

from ledger.store_columns import aware
from licences.store import licence_index
from licences.values import LicenceId
from reminders.model import DigestItem, DueLicence, StageWindow

_ACTIVE = "active"
_REVOKED = "revoked"


def _key(valid_until: datetime, licence_id: str) -> Any:
    """The keyset position, bound with the columns' own types (SQLite stores date-times as text)."""
    li = licence_index.c
    return tuple_(literal(valid_until, li.valid_until.type), literal(licence_id, li.licence_id.type))


def _stage_case(windows: Mapping[str, Sequence[StageWindow]]) -> ColumnElement[Any]:
    li = licence_index.c
    whens = [
        (and_(li.type_code == code, li.valid_until > w.after, li.valid_until <= w.until), literal(w.stage))
        for code, ws in windows.items()
        for w in ws
    ]
    return case(*whens, else_=None)


def _window_bounds(windows: Mapping[str, Sequence[StageWindow]]) -> tuple[datetime, datetime]:
    flat = [w for ws in windows.values() for w in ws]
    return min(w.after for w in flat), max(w.until for w in flat)


class ReminderScan:
    """Read-only queries of the scheduler on `licence_index`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _due(windows: Mapping[str, Sequence[StageWindow]]) -> tuple[ColumnElement[Any], list[ColumnElement[bool]]]:
        """The stage expression and the WHERE conditions of "due" for `windows` (type code → its stage windows)."""
        li = licence_index.c
        stage = _stage_case(windows)
        low, high = _window_bounds(windows)
        conditions = [
            li.valid_until > low,
            li.valid_until <= high,
            li.lifecycle == _ACTIVE,
            li.type_code.in_(list(windows)),
            stage.isnot(None),
            or_(li.reminded_stage.is_(None), li.reminded_stage > stage),
        ]
        return stage, conditions

    def due_query(self, windows: Mapping[str, Sequence[StageWindow]]) -> Any:
        """The SELECT of due licences for `windows`, in (`valid_until`, `licence_id`) order."""
        li = licence_index.c
        stage, conditions = self._due(windows)
        columns = (li.licence_id, li.identifier, li.type_code, li.issuer, li.holder_digest, li.valid_until)
        return select(*columns, stage.label("stage")).where(*conditions).order_by(li.valid_until, li.licence_id)

    def due_pages(self, windows: Mapping[str, Sequence[StageWindow]], page: int = 500) -> Iterator[list[DueLicence]]:
        """Due licences, a keyset page at a time, each page read in its own short transaction."""
        windows = {code: ws for code, ws in windows.items() if ws}
        if not windows:
            return
        base = self.due_query(windows)
        li = licence_index.c
        after: tuple[datetime, str] | None = None
        while True:
            # The plain `valid_until >=` bound lets every planner start the index range at the page boundary.
            query = (
                base
                if after is None
                else base.where(li.valid_until >= after[0], tuple_(li.valid_until, li.licence_id) > _key(*after))
            )
            with self.engine.connect() as conn:
                rows = conn.execute(query.limit(page)).all()
            if not rows:
                return
            yield [
                DueLicence(
                    licence_id=LicenceId(UUID(r.licence_id)),  # a `licence_index` row, written from a `LicenceId`
                    identifier=r.identifier,
                    type_code=r.type_code,
                    issuer=r.issuer,
                    holder_digest=r.holder_digest,
                    valid_until=aware(r.valid_until),
                    stage=int(r.stage),
                )
                for r in rows
            ]
            if len(rows) < page:
                return
            after = (rows[-1].valid_until, rows[-1].licence_id)

    def count_due(self, windows: Mapping[str, Sequence[StageWindow]]) -> int:
        """How many licences the due scan would return (one COUNT over the same predicate)."""
        windows = {code: ws for code, ws in windows.items() if ws}
        if not windows:
            return 0
        _, conditions = self._due(windows)
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(licence_index).where(*conditions)) or 0)

    def expiring(self, issuer: str, start: datetime, end: datetime) -> list[DigestItem]:
        """Licences of `issuer` whose validity ends in `[start, end)` and that are not revoked (the digest)."""
        li = licence_index.c
        query = (
            select(li.identifier, li.type_code, li.valid_until)
            .where(li.issuer == issuer, li.valid_until >= start, li.valid_until < end, li.lifecycle != _REVOKED)
            .order_by(li.valid_until, li.licence_id)
        )
        with self.engine.connect() as conn:
            return [DigestItem(r.identifier, r.type_code, aware(r.valid_until)) for r in conn.execute(query)]
