"""Comparing a stored derived table with the one re-derived from the events (DESIGN §4), row by row in key order.

Each package that writes read models re-derives them into a scratch database as the audit walks the log (see
`ledger.store_derived`); at the end of the walk it names its tables with a `DerivedTable` and calls
`check_derived_table`, which streams both sides in key order and raises `AuditFailure` at the first difference:
a row only stored (not produced by the events), a row only derived (missing), or a column whose values differ
("licence_index row <id>: lifecycle stored 'active', derived 'revoked'").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ledger.errors import AuditFailure
from ledger.store_derived import keyed_rows

if TYPE_CHECKING:
    from sqlalchemy import Connection, Table

NOT_LEAF_BOUND = -1
Normalise = Callable[[Any], Any]


@dataclass(frozen=True)
class DerivedTable:
    """A derived table: its key columns, the columns compared, and how a column's values are normalised first.

    `unrecorded` names columns added after rows were first written: a stored NULL there means "not recorded" (a row
    older than the column, which its readers fall back from) and is accepted; any other stored value must match.
    """

    table: Table
    key: tuple[str, ...]
    columns: tuple[str, ...]
    normalise: dict[str, Normalise] = field(default_factory=dict)
    unrecorded: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The table's name, as messages give it."""
        return str(self.table.name)


def _same_instant(value: Any) -> Any:
    """Date-times as aware UTC (SQLite hands back naive ones; every stored time is UTC)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


SHOWN = 200  # characters of a value a message shows (a PEM or a document is cut)


def show(value: Any) -> str:
    """A value as a message shows it: NULL, quoted text, ISO 8601 instants; long values cut to `SHOWN` characters."""
    if value is None:
        return "NULL"
    text = repr(_same_instant(value).isoformat()) if isinstance(value, datetime) else repr(value)
    return text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"


def _key_text(spec: DerivedTable, key: Sequence[Any]) -> str:
    if len(key) == 1:
        return str(key[0])
    return "(" + ", ".join(f"{name} {value}" for name, value in zip(spec.key, key, strict=True)) + ")"


def _rows(conn: Connection, spec: DerivedTable) -> Iterator[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    width = len(spec.key)
    for row in keyed_rows(conn, spec.table, spec.key, spec.columns):
        yield tuple(row[:width]), tuple(row[width:])


def _column_difference(spec: DerivedTable, stored: tuple[Any, ...], derived: tuple[Any, ...]) -> str | None:
    """The first column whose values differ once normalised (equal raw rows never get here: most rows are equal)."""
    for name, mine, theirs in zip(spec.columns, stored, derived, strict=True):
        normalise = spec.normalise.get(name)
        a, b = _same_instant(mine), _same_instant(theirs)
        if normalise is not None:
            with suppress(TypeError, ValueError):  # a stored value its readers could not parse either: it differs
                a, b = normalise(a), normalise(b)
        if a != b and not (a is None and name in spec.unrecorded):
            return f"{name} stored {show(a)}, derived {show(b)}"
    return None


def first_difference(spec: DerivedTable, stored: Connection, derived: Connection) -> str | None:
    """How the stored table first differs from the derived one (in key order), or None if they are equal."""
    a_rows, b_rows = _rows(stored, spec), _rows(derived, spec)
    a, b = next(a_rows, None), next(b_rows, None)
    while a is not None or b is not None:
        if a is None or (b is not None and b[0] < a[0]):
            assert b is not None
            return f"{spec.name} row {_key_text(spec, b[0])}: missing (the events produce it)"
        if b is None or a[0] < b[0]:
            return f"{spec.name} row {_key_text(spec, a[0])}: stored, but no event produces it"
        if a[1] != b[1]:
            how = _column_difference(spec, a[1], b[1])
            if how is not None:
                return f"{spec.name} row {_key_text(spec, a[0])}: {how}"
        a, b = next(a_rows, None), next(b_rows, None)
    return None


def check_derived_tables(specs: Sequence[DerivedTable], stored: Connection, derived: Connection) -> None:
    """Raise `AuditFailure` naming the first table, row and column where the stored tables differ from the events."""
    for spec in specs:
        found = first_difference(spec, stored, derived)
        if found is not None:
            raise AuditFailure(NOT_LEAF_BOUND, found)


__all__ = ["DerivedTable", "check_derived_tables", "first_difference", "show"]
