"""Revision 0010 adds the scan columns to `licence_index` of a database created at the previous licences revision,
keeping its rows (tests/trustledger/test_migrations.py checks the migrated tables are exactly the declared ones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

import trustledger.migrations
from ledger.store import make_engine
from trustledger.migrations import upgrade

NEW = "0010_licence_index_display"
PREVIOUS = "0002_licences"
NEW_COLUMNS = {"display_name", "minted_at", "token_kid"}
LEGACY_ROW = """INSERT INTO licence_index (licence_id, identifier, type_code, issuer, holder_digest, holder_kind,
    lifecycle, licence_version, valid_from, valid_until, reminded_stage, minted_leaf, last_leaf, aggregate_version,
    fields, token, imported, identifier_check_ok)
    VALUES ('00000000-0000-0000-0000-000000000001', 'x', 't', 'i', 'd', 'organisation', 'active', 1,
    '2026-01-01 00:00:00', NULL, NULL, 0, 0, 1, '{}', 'tok', 0, 1)"""


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(trustledger.migrations.__file__).parent))
    return cfg


def _migrate(engine: Engine, target: str, *, down: bool = False) -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def _columns(engine: Engine) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns("licence_index")}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    yield e
    e.dispose()


def test_the_revision_follows_the_licences_branch() -> None:
    script = ScriptDirectory.from_config(_config()).get_revision(NEW)
    assert script is not None and script.down_revision == PREVIOUS


def test_upgrade_from_the_previous_revision_adds_nullable_columns_and_keeps_rows(engine: Engine) -> None:
    _migrate(engine, PREVIOUS)
    assert not NEW_COLUMNS & _columns(engine)
    with engine.begin() as conn:
        conn.execute(text(LEGACY_ROW))
    upgrade(engine)  # what `trustledger init` and the server do: every branch to its head
    assert _columns(engine) >= NEW_COLUMNS
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT identifier, display_name, minted_at, token_kid FROM licence_index")).all()
    assert [tuple(r) for r in kept] == [("x", None, None, None)]


def test_downgrade_removes_the_columns_again(engine: Engine) -> None:
    _migrate(engine, NEW)
    assert _columns(engine) >= NEW_COLUMNS
    _migrate(engine, PREVIOUS, down=True)
    assert not NEW_COLUMNS & _columns(engine)
