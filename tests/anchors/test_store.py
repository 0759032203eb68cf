"""The anchors tables: the Alembic branch is rooted at the ledger (tests/trustledger/test_migrations.py checks it
builds exactly the declared tables); store round trips."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.config import Config
from alembic.script import ScriptDirectory

from anchors.model import PeerCheckpoint, PeerRecord
from anchors.store import AnchorStore

NOW = datetime(2026, 1, 1, 8, tzinfo=UTC)


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
