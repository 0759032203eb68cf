"""The schema the migrations must build: every table the stores declare in SQLAlchemy Core, gathered in one place.

Each store keeps its own `metadata` next to its SQL (the stores of seven packages, two of them edited elsewhere), so
instead of one shared `MetaData` this module collects them. Alembic's autogenerate compares against the result
(`env.py`) and tests/trustledger/test_migrations.py checks the revisions build exactly it, table for table.
"""

from __future__ import annotations

from sqlalchemy import MetaData

from anchors import store as anchors_store
from anchors import store_crossregion
from ledger import store as ledger_store
from licences import store as licences_store
from licences import store_imports, store_registry
from reminders import store_outbox
from seals import store as seals_store
from trustlists import store as trustlists_store
from verify_api import store as verify_api_store

STORE_METADATA: tuple[MetaData, ...] = (
    ledger_store.metadata,
    licences_store.metadata,
    store_registry.metadata,
    seals_store.metadata,
    store_imports.metadata,
    store_outbox.metadata,
    anchors_store.metadata,
    store_crossregion.metadata,
    verify_api_store.metadata,
    trustlists_store.metadata,
)


def declared_metadata() -> MetaData:
    """One `MetaData` holding a copy of every declared table; a table name declared twice raises `ValueError`."""
    merged = MetaData()
    for metadata in STORE_METADATA:
        for table in metadata.tables.values():
            if table.name in merged.tables:
                raise ValueError(f"table {table.name!r} is declared by two stores")
            table.to_metadata(merged)
    return merged
