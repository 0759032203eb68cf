"""SQL of the seal PKI read models' audit (DESIGN §4): the scratch copies the seal events are re-derived into.

`seals.derived_audit` folds the seal events into dicts (a region has a CA, a TSA and a few certificates per
department) and writes them here, into copies of `seal_authorities` and `seal_certificates` in the audit's scratch
database (`ledger.store_derived.scratch_database`), to be compared with the stored tables. SQL lives here only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from ledger.store_derived import put_rows
from seals.store import seal_authorities, seal_certificates

SCRATCH_TABLES: tuple[Table, ...] = (seal_authorities, seal_certificates)


def write_seal_registry(
    scratch: Connection, authorities: Sequence[Mapping[str, Any]], certificates: Sequence[Mapping[str, Any]]
) -> None:
    """Write the re-derived seal authority and seal certificate rows."""
    put_rows(scratch, seal_authorities, authorities)
    put_rows(scratch, seal_certificates, certificates)


__all__ = ["SCRATCH_TABLES", "write_seal_registry"]
