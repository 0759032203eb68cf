"""The anchors tables: the Alembic branch builds exactly the tables `anchors.store` and `anchors.store_crossregion`
declare; store round trips."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, inspect

from anchors import store_crossregion
from anchors.model import PeerCheckpoint, PeerRecord
from anchors.store import AnchorStore, metadata
from ledger.store import make_engine
from trustledger.migrations import upgrade

NOW = datetime(2026, 1, 1, 8, tzinfo=UTC)


def test_migration_branch_matches_the_declared_tables(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        declared = MetaData()
        for table in [*metadata.tables.values(), *store_crossregion.metadata.tables.values()]:
            table.to_metadata(declared)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), declared)
        ours = [d for d in diff if "anchor_" in repr(d)]
        assert ours == []
        assert set(declared.tables) <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_revision_is_a_branch_off_the_ledger() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "trustledger/migrations")
    script = ScriptDirectory.from_config(cfg).get_revision("0004_anchors")
    assert script is not None
    assert (script.down_revision, script.branch_labels) == ("0001_ledger", {"anchors"})


def test_peer_round_trip_and_first_checkpoint_of_a_size_wins(anchor_store: AnchorStore) -> None:
    peer = PeerRecord("js.example/log", "https://js.example", bytes(range(32)), None, NOW)
    anchor_store.add_peer(peer)
    assert anchor_store.peer("js.example/log") == peer
    first = PeerCheckpoint("js.example/log", 5, b"\x01" * 32, "note one", NOW)
    assert anchor_store.save_peer_checkpoint(first) == first
    other = PeerCheckpoint("js.example/log", 5, b"\x02" * 32, "note two", NOW)
    assert anchor_store.save_peer_checkpoint(other) == first  # never two roots stored for one size


def test_alarms_are_stored_once(anchor_store: AnchorStore) -> None:
    args = {"origin": "o", "kind": "fork-same-size", "detail": "d", "proof": (), "now": NOW}
    one = anchor_store.raise_alarm(first=(1, "a"), second=(1, "b"), **args)  # type: ignore[arg-type]
    again = anchor_store.raise_alarm(first=(1, "b"), second=(1, "a"), **args)  # type: ignore[arg-type]
    other = anchor_store.raise_alarm(first=(1, "a"), second=(1, "c"), **args)  # type: ignore[arg-type]
    assert one == (again[0], True) and again[1] is False and other[1] is True
    assert anchor_store.alarm_count() == 2
