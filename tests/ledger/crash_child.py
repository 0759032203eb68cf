"""Child process for the crash test: append forever, printing each acknowledged batch, signing checkpoints."""

import sys
import uuid
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from clock import StartedClock
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, make_engine
from signatures.note import NoteSigner

clock = StartedClock(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))  # a chosen instant, ticking: checkpoints move on
store = LedgerStore(make_engine(sys.argv[1]))
recorder = LedgerRecorder(store, clock=clock)
log = Log(store, "crash.test/log")
signer = NoteSigner("crash.test/log", Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
batch = int(sys.argv[2])
n = 0
while True:
    stream = uuid.uuid4()
    ids = recorder.insert_events([StoredEvent(stream, v, "crash:Event", b"{}") for v in range(1, batch + 1)])
    sys.stdout.write(f"{stream} {ids[-1]}\n")
    sys.stdout.flush()
    n += 1
    if n % 10 == 0:
        log.sign_checkpoint(signer, clock())
