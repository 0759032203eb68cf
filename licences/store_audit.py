"""SQL of the licence read models' audit (DESIGN §4): the scratch copies the events are folded into.

`licences.derived_audit` re-derives `licence_index`, `licence_identifiers` and `licence_history` (and the registry's
tables) into copies in a scratch SQLite database (`ledger.store_derived.scratch_database`), a batch at a time; this
module reads a batch's current rows back and writes a batch out. SQL lives here only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from ledger.store_derived import by_key, put_rows
from licences.store import licence_history, licence_identifiers, licence_index
from licences.store_registry import registry_entries, registry_issuers, registry_keys

SCRATCH_TABLES: tuple[Table, ...] = (
    licence_index,
    licence_identifiers,
    licence_history,
    registry_keys,
    registry_entries,
    registry_issuers,
)


def derived_licences(scratch: Connection, licence_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The re-derived `licence_index` rows of these licences (those derived so far), by licence id."""
    return {str(k): v for k, v in by_key(scratch, licence_index, "licence_id", licence_ids).items()}


def write_licence_batch(
    scratch: Connection,
    index_rows: Sequence[Mapping[str, Any]],
    identifiers: Sequence[Mapping[str, Any]],
    history: Sequence[Mapping[str, Any]],
) -> None:
    """Write a batch of re-derived rows: index rows replace earlier ones, an identifier keeps its first licence."""
    put_rows(scratch, licence_index, index_rows, on_conflict="REPLACE")
    put_rows(scratch, licence_identifiers, identifiers, on_conflict="IGNORE")
    put_rows(scratch, licence_history, history, on_conflict="REPLACE")


def write_registry(
    scratch: Connection,
    keys: Sequence[Mapping[str, Any]],
    entries: Sequence[Mapping[str, Any]],
    issuers: Sequence[Mapping[str, Any]],
) -> None:
    """Write the re-derived registry rows (a few hundred at most: keys, catalogue entries, issuers)."""
    for table, rows in ((registry_keys, keys), (registry_entries, entries), (registry_issuers, issuers)):
        put_rows(scratch, table, rows)


__all__ = ["SCRATCH_TABLES", "derived_licences", "write_licence_batch", "write_registry"]
