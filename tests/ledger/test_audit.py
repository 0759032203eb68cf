"""The audit passes on an honest log and names the first bad index for every kind of tampering."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, text

from ledger.audit import run_audit
from ledger.envelope import Envelope
from ledger.errors import AuditFailure
from ledger.log import Log
from ledger.merkle import leaf_hash
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore
from signatures.note import CheckpointBody, NoteSigner, sign_note
from tests.conftest import FakeClock
from tests.ledger.helpers import append

ORIGIN = "ledger.test.example/log"


@pytest.fixture
def filled(store: LedgerStore, clock: FakeClock, note_signer: NoteSigner) -> LedgerStore:
    """600 events with checkpoints at 100, 300 and 600."""
    recorder = LedgerRecorder(store, clock=clock)
    log = Log(store, ORIGIN)
    for n in (100, 200, 300):
        append(recorder, n, batch=50)
        log.sign_checkpoint(note_signer, clock())
        clock.advance(seconds=1)
    return store


def _audit(store: LedgerStore, signer: NoteSigner) -> AuditFailure:
    with pytest.raises(AuditFailure) as info:
        run_audit(store, signer.verifier, ORIGIN)
    return info.value


def _tamper(store: LedgerStore, *statements: str, **params: object) -> None:
    store.forget_edge()
    with store.engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql), params)


def test_honest_log_passes(filled: LedgerStore, note_signer: NoteSigner) -> None:
    report = run_audit(filled, note_signer.verifier, ORIGIN)
    assert (report.leaves, report.tiles, report.checkpoints) == (600, 2, 3)
    assert report.root_hash == Log(filled, ORIGIN).root()[1]


def test_edited_payload(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "UPDATE ledger_events SET state = :s WHERE leaf_index = 123", s=b'{"n":0}')
    assert _audit(filled, note_signer).index == 123


def test_edited_payload_with_recomputed_leaf_hash_in_last_partial_tile(
    filled: LedgerStore, note_signer: NoteSigner
) -> None:
    # The attacker re-derives the row's leaf hash too; the signed checkpoint at 600 still catches it.
    log = Log(filled, ORIGIN)
    data, _ = log.leaf(550)
    forged = Envelope.of(550, "forged-stream", 1, "x", "2026-01-01T08:00:00.000000Z", b"{}")
    _tamper(
        filled,
        "UPDATE ledger_events SET stream='forged-stream', version=1, topic='x', "
        "recorded_at='2026-01-01T08:00:00.000000Z', state=:s, leaf_hash=:h WHERE leaf_index=550",
        s=b"{}",
        h=leaf_hash(forged.leaf_data()),
    )
    failure = _audit(filled, note_signer)
    assert failure.index == 599 and "checkpoint 2" in failure.reason
    assert data != log.leaf(550)[0]


def test_deleted_row(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "DELETE FROM ledger_events WHERE leaf_index = 42")
    assert _audit(filled, note_signer).index == 42


def test_reordered_rows(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(
        filled,
        "UPDATE ledger_events SET leaf_index = -1 WHERE leaf_index = 10",
        "UPDATE ledger_events SET leaf_index = 10 WHERE leaf_index = 11",
        "UPDATE ledger_events SET leaf_index = 11 WHERE leaf_index = -1",
    )
    assert _audit(filled, note_signer).index == 10


def test_inserted_row_shifting_the_rest(filled: LedgerStore, note_signer: NoteSigner) -> None:
    # Shift every row from 300 up by one and copy row 299 into the hole at 300.
    _tamper(
        filled,
        "UPDATE ledger_events SET leaf_index = leaf_index + 100000 WHERE leaf_index >= 300",
        "UPDATE ledger_events SET leaf_index = leaf_index - 100000 + 1 WHERE leaf_index >= 100000",
        "INSERT INTO ledger_events (leaf_index, stream, version, topic, state, recorded_at, leaf_hash) "
        "SELECT 300, stream || '-x', version, topic, state, recorded_at, leaf_hash "
        "FROM ledger_events WHERE leaf_index = 299",
    )
    assert _audit(filled, note_signer).index == 300


def test_edited_tile_row(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "UPDATE ledger_tiles SET root = :z WHERE level = 0 AND idx = 1", z=bytes(32))
    assert _audit(filled, note_signer).index == 256


def test_deleted_and_inserted_tile_rows(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "INSERT INTO ledger_tiles (level, idx, hashes, root) SELECT 3, idx, hashes, root FROM ledger_tiles")
    assert "not produced by the events" in _audit(filled, note_signer).reason
    _tamper(filled, "DELETE FROM ledger_tiles WHERE level = 0 AND idx = 0")
    assert _audit(filled, note_signer).index == 0


def _edit_checkpoint(store: LedgerStore, seq: int, change: Callable[[str], str]) -> None:
    store.forget_edge()
    with store.engine.begin() as conn:
        note = conn.execute(text("SELECT note FROM ledger_checkpoints WHERE seq = :s"), {"s": seq}).scalar_one()
        conn.execute(text("UPDATE ledger_checkpoints SET note = :n WHERE seq = :s"), {"n": change(note), "s": seq})


def test_checkpoint_with_bad_signature(filled: LedgerStore, note_signer: NoteSigner) -> None:
    def flip(note: str) -> str:
        text_part, sig_line = note.rsplit("\n\n", 1)
        name_part, blob = sig_line.rstrip("\n").rsplit(" ", 1)
        raw = bytearray(base64.b64decode(blob))
        raw[10] ^= 1
        return f"{text_part}\n\n{name_part} {base64.b64encode(bytes(raw)).decode()}\n"

    _edit_checkpoint(filled, 1, flip)
    failure = _audit(filled, note_signer)
    assert failure.index == 299 and "bad signature" in failure.reason


def test_checkpoint_forged_with_another_key(filled: LedgerStore, note_signer: NoteSigner) -> None:
    mallory = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    _edit_checkpoint(filled, 0, lambda note: sign_note(note.split("\n\n")[0] + "\n", mallory))
    assert "bad signature" in _audit(filled, note_signer).reason


def test_inconsistent_checkpoint_signed_with_the_real_key(filled: LedgerStore, note_signer: NoteSigner) -> None:
    """A fork: the operator signs a different root for size 300; it is not consistent with the log or the others."""
    forked = sign_note(CheckpointBody(ORIGIN, 300, bytes(32)).to_text(), note_signer)

    def fork(conn: Connection) -> None:
        conn.execute(
            text("UPDATE ledger_checkpoints SET note = :n, root_hash = :r WHERE seq = 1"), {"n": forked, "r": bytes(32)}
        )

    filled.forget_edge()
    with filled.engine.begin() as conn:
        fork(conn)
    failure = _audit(filled, note_signer)
    assert failure.index == 299 and "inconsistent" in failure.reason


def test_deleted_checkpoint_breaks_the_chain(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "DELETE FROM ledger_checkpoints WHERE seq = 1")
    assert "chain broken" in _audit(filled, note_signer).reason


def test_checkpoint_beyond_the_log(filled: LedgerStore, note_signer: NoteSigner) -> None:
    _tamper(filled, "DELETE FROM ledger_events WHERE leaf_index >= 590")
    failure = _audit(filled, note_signer)
    assert "claims more leaves" in failure.reason
