"""The stored tree on SQLite and PostgreSQL: same roots and proofs as the pure functions, dense, restartable."""

from __future__ import annotations

import random
import threading
import uuid

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent

from ledger.log import Log
from ledger.merkle import root_of, verify_consistency, verify_inclusion
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, events_table, make_engine, tiles_table
from tests.conftest import FakeClock
from tests.ledger.helpers import TOPIC, append


def _leaf_hashes(log: Log, n: int) -> list[bytes]:
    return [h for _, h in log.leaves(0, n)] if n else []


def test_roots_and_proofs_match_pure_tree_across_tile_boundaries(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    log = Log(store, "test/log")
    rng = random.Random(7)
    sizes = []
    while store.size() < 1100:
        append(recorder, rng.choice([1, 3, 17, 255, 256, 300]), batch=rng.choice([1, 50, 1000]))
        sizes.append(store.size())
    leaves = _leaf_hashes(log, store.size())
    for size in [1, 255, 256, 257, 511, 512, 513, *sizes]:
        _, root = log.root(size)
        assert root == root_of(leaves[:size]), size
        for index in {0, size // 2, size - 1}:
            n, proof = log.inclusion_proof(index, size)
            verify_inclusion(index, n, leaves[index], proof, root)
        first = rng.randrange(0, size + 1)
        verify_consistency(first, size, root_of(leaves[:first]), root, log.consistency_proof(first, size))


def test_level_two_tiles_and_restart_without_rebuild(db_url: str, clock: FakeClock) -> None:
    store = LedgerStore(make_engine(db_url))
    store.create_tables()
    append(LedgerRecorder(store, clock=clock), 65536 + 300, batch=5000)
    log = Log(store, "test/log")
    _, root_before = log.root()
    store.close()
    # A new process: nothing is rebuilt; the edge is read back with one query per level.
    reopened = LedgerStore(make_engine(db_url))
    log2 = Log(reopened, "test/log")
    assert log2.root() == (65836, root_before)
    with reopened.read() as conn:
        levels = sorted({r[0] for r in conn.execute(tiles_table.select()).all()})
    assert levels == [0, 1]
    append(LedgerRecorder(reopened, clock=clock), 1000, batch=333)
    leaves = _leaf_hashes(log2, reopened.size())
    assert log2.root()[1] == root_of(leaves)
    reopened.close()


def test_failed_transaction_leaves_no_gap(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    append(recorder, 10)
    stream = uuid.uuid4()
    duplicate = StoredEvent(stream, 1, TOPIC, b"{}")
    with pytest.raises(IntegrityError):
        recorder.insert_events([duplicate, duplicate])
    assert store.size() == 10
    assert recorder.insert_events([duplicate]) == [11]
    with store.read() as conn:
        indexes = [r[0] for r in conn.execute(events_table.select().order_by(events_table.c.leaf_index)).all()]
    assert indexes == list(range(11))


def test_same_transaction_hook_rolls_back_everything(store: LedgerStore, clock: FakeClock) -> None:
    recorder = LedgerRecorder(store, clock=clock)
    append(recorder, 3)

    def read_model_write_fails(_conn: object, indexes: object) -> None:
        raise RuntimeError("read model rejected the row")

    with pytest.raises(RuntimeError):
        recorder.insert_events([StoredEvent(uuid.uuid4(), 1, TOPIC, b"{}")], same_transaction=read_model_write_fails)
    assert store.size() == 3
    seen: list[list[int]] = []
    recorder.insert_events(
        [StoredEvent(uuid.uuid4(), 1, TOPIC, b"{}")], same_transaction=lambda c, i: seen.append(list(i))
    )
    assert seen == [[3]]


def test_concurrent_writers_keep_the_log_dense(db_url: str, clock: FakeClock) -> None:
    stores = [LedgerStore(make_engine(db_url)) for _ in range(3)]  # three "processes", each with its own edge cache
    stores[0].create_tables()
    errors: list[BaseException] = []

    def work(s: LedgerStore) -> None:
        try:
            append(LedgerRecorder(s, clock=clock), 400, batch=7)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in stores for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    log = Log(stores[0], "test/log")
    assert log.size() == 2400
    assert log.root()[1] == root_of(_leaf_hashes(log, 2400))
    for s in stores:
        s.close()


def test_tiles_and_entry_bundles_follow_c2sp_layout(store: LedgerStore, clock: FakeClock) -> None:
    append(LedgerRecorder(store, clock=clock), 600, batch=100)
    log = Log(store, "test/log")
    leaves = _leaf_hashes(log, 600)
    assert log.tile(0, 0) == b"".join(leaves[:256])
    assert log.tile(0, 2, 88) == b"".join(leaves[512:600])
    assert log.tile(1, 0, 2) == root_of(leaves[:256]) + root_of(leaves[256:512])
    bundle = log.entry_bundle(2, 88)
    pos, seen = 0, 0
    while pos < len(bundle):
        length = int.from_bytes(bundle[pos : pos + 2], "big")
        data = bundle[pos + 2 : pos + 2 + length]
        assert data == log.leaf(512 + seen)[0]
        pos += 2 + length
        seen += 1
    assert seen == 88
