"""A writer killed with SIGKILL mid-append leaves a log whose audit passes and that holds exactly the commits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from ledger.audit import run_audit
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, make_engine
from signatures.note import NoteSigner

CHILD = Path(__file__).with_name("crash_child.py")


@pytest.mark.parametrize("batch", [1, 300])
def test_sigkill_mid_append(db_url: str, batch: int) -> None:
    store = LedgerStore(make_engine(db_url))
    store.create_tables()
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    child = subprocess.Popen(
        [sys.executable, str(CHILD), db_url, str(batch)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    acked: list[tuple[str, int]] = []
    for line in child.stdout:
        stream, last_id = line.split()
        acked.append((stream, int(last_id)))
        if len(acked) >= 25:
            break
    child.send_signal(signal.SIGKILL)  # mid-append: the child is writing its next batch
    child.wait()
    acked += [(s, int(i)) for s, i in (line.split() for line in child.stdout.read().splitlines())]

    store.forget_edge()
    size = store.size()
    last_acked = acked[-1][1]
    # Every acknowledged event is there; at most the one batch in flight committed without its acknowledgement.
    assert size in (last_acked, last_acked + batch)
    recorder = LedgerRecorder(store)
    for stream, _ in acked:
        assert len(recorder.select_events(uuid.UUID(stream))) == batch
    signer = NoteSigner("crash.test/log", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    report = run_audit(store, signer.verifier, "crash.test/log")
    assert report.leaves == size and report.checkpoints >= 2
    # The log goes on from where it stopped, densely.
    assert recorder.insert_events([_event()]) == [size + 1]
    store.close()


def _event() -> StoredEvent:
    return StoredEvent(uuid.uuid4(), 1, "crash:Event", b"{}")
