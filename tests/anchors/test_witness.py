"""The tlog-witness: cosigns consistent growth only; each refusal with its status; races cannot fork it."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from anchors.cosignature import verify_cosignatures
from anchors.errors import (
    InconsistentProofError,
    MalformedRequestError,
    SizeConflictError,
    UnknownLogError,
    UntrustedCheckpointError,
    WitnessRefusal,
)
from anchors.store import AnchorStore
from anchors.witness import AddCheckpointRequest, Witness, parse_add_checkpoint
from ledger.log import Log
from signatures.errors import MalformedError
from signatures.note import CheckpointBody, NoteSigner, sign_note
from tests.anchors.conftest import ORIGIN, SHARED
from tests.anchors.helpers import append, ed_key, log_signer, sign, witness_signer
from tests.conftest import FakeClock


@pytest.fixture
def witness(anchor_store: AnchorStore, clock: FakeClock) -> Witness:
    w = Witness(anchor_store, witness_signer(), clock)
    w.add_log(ORIGIN, [log_signer(ORIGIN).verifier.to_string()])
    return w


def body(log: Log, old: int, note: str | None = None, proof: list[bytes] | None = None) -> bytes:
    """An add-checkpoint request for the log's checkpoint now, with a real proof from `old` unless given."""
    note = note if note is not None else sign(log, log_signer(ORIGIN))
    size = log.size()
    if proof is None:
        proof = log.consistency_proof(old, size) if 0 < old < size else []
    return AddCheckpointRequest(old, tuple(proof), note).to_body()


def grow(log: Log, n: int, label: str = "shared") -> None:
    append(log.store, n, label=label, start=log.size())


def test_cosigns_first_checkpoint_and_consistent_growth(witness: Witness, log: Log, clock: FakeClock) -> None:
    grow(log, 10)
    note = sign(log, log_signer(ORIGIN))
    assert note.split("\n")[3].startswith("status-map ")  # the extension line is cosigned with the rest
    (cosig,) = witness.add_checkpoint(body(log, 0, note))
    assert cosig.timestamp == int(clock().timestamp())
    _, verified = verify_cosignatures(note + cosig.to_line(), [witness.signer.verifier])
    assert verified == [cosig]
    for n in (1, 5, 250):
        old = log.size()
        grow(log, n)
        clock.advance(seconds=1)
        assert witness.add_checkpoint(body(log, old))
    state = witness.store.witnessed_log(ORIGIN)
    assert state is not None and (state.size, state.root_hash) == log.root()
    assert witness.add_checkpoint(body(log, log.size()))  # same size, same root: cosigned again


def test_refuses_rollback_with_409_and_the_latest_size(witness: Witness, log: Log) -> None:
    grow(log, 10)
    small = sign(log, log_signer(ORIGIN))
    witness.add_checkpoint(body(log, 0, small))
    grow(log, 15)
    witness.add_checkpoint(body(log, 10))
    with pytest.raises(SizeConflictError) as err:
        witness.add_checkpoint(body(log, 10))  # stale old size
    assert (err.value.status, err.value.latest_size) == (409, 25)
    with pytest.raises(SizeConflictError) as err:
        witness.add_checkpoint(AddCheckpointRequest(10, (), small).to_body())  # the old, smaller checkpoint
    assert err.value.latest_size == 25
    with pytest.raises(MalformedRequestError) as bad:
        witness.add_checkpoint(AddCheckpointRequest(25, (), small).to_body())  # old above the checkpoint size
    assert bad.value.status == 400


def test_refuses_an_inconsistent_proof_with_422(witness: Witness, log: Log) -> None:
    grow(log, 13)
    witness.add_checkpoint(body(log, 0))
    grow(log, 20)
    proof = log.consistency_proof(13, 33)
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 1]) + flipped[i][1:]
        with pytest.raises(InconsistentProofError) as err:
            witness.add_checkpoint(body(log, 13, proof=flipped))
        assert err.value.status == 422
    with pytest.raises(InconsistentProofError):
        witness.add_checkpoint(body(log, 13, proof=proof[:-1]))
    with pytest.raises(InconsistentProofError):
        witness.add_checkpoint(body(log, 13, proof=[*proof, bytes(32)]))
    assert witness.store.witnessed_log(ORIGIN).size == 13  # type: ignore[union-attr]


def test_first_request_must_have_an_empty_proof(witness: Witness, log: Log) -> None:
    grow(log, 5)
    with pytest.raises(InconsistentProofError):
        witness.add_checkpoint(body(log, 0, proof=[bytes(32)]))


def test_refuses_wrong_log_key_403_and_unknown_origin_404(witness: Witness, log: Log) -> None:
    grow(log, 4)
    forged = sign(log, NoteSigner(ORIGIN, ed_key("impostor")))
    with pytest.raises(UntrustedCheckpointError) as err:
        witness.add_checkpoint(body(log, 0, forged))
    assert err.value.status == 403
    other_text = CheckpointBody("other.example/log", 4, log.root()[1]).to_text()
    other_note = sign_note(other_text, log_signer("other.example/log"))
    with pytest.raises(UnknownLogError) as unknown:
        witness.add_checkpoint(AddCheckpointRequest(0, (), other_note).to_body())
    assert unknown.value.status == 404


def test_a_trusted_key_with_a_bad_signature_is_403(witness: Witness, log: Log) -> None:
    grow(log, 4)
    note = sign(log, log_signer(ORIGIN))
    text, sig_line = note.split("\n\n")
    dash, name, blob = sig_line.rstrip("\n").split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    bad = f"{text}\n\n{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    with pytest.raises(UntrustedCheckpointError):
        witness.add_checkpoint(AddCheckpointRequest(0, (), bad).to_body())


def test_two_roots_for_one_size_is_409_and_an_alarm(witness: Witness, forked_logs: tuple[Log, Log]) -> None:
    a, b = forked_logs
    witness.add_checkpoint(body(a, 0))  # size SHARED, same in both logs
    grow(a, 10, "a")
    grow(b, 10, "b")
    witness.add_checkpoint(body(a, SHARED))
    with pytest.raises(SizeConflictError) as err:
        witness.add_checkpoint(body(b, 2 * SHARED, proof=[]))
    assert err.value.latest_size == 2 * SHARED
    (alarm,) = witness.store.alarms()
    assert alarm.kind == "witness-fork" and alarm.first_size == alarm.second_size == 2 * SHARED
    assert alarm.first_note != alarm.second_note
    grow(b, 5, "b")
    with pytest.raises(InconsistentProofError):  # B's own proof cannot link B to the A root we cosigned
        witness.add_checkpoint(body(b, 2 * SHARED))


@pytest.mark.parametrize(
    "raw",
    [
        b"old 01\n\nx",
        b"old -1\n\nx",
        b"old 1",
        b"new 1\n\nx",
        b"old 1\n" + b"AAAA\n" + b"\nx",
        b"old 1\n" + b"!!!!\n" + b"\nx",
        b"old 1\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nx",
        b"old 1\n\n\xff\xfe",
        b"old 1\n\n" + b"x" * (256 * 1024),
    ],
)
def test_malformed_requests_are_400(raw: bytes) -> None:
    with pytest.raises(MalformedRequestError) as err:
        parse_add_checkpoint(raw)
    assert err.value.status == 400


def test_a_malformed_note_is_400(witness: Witness) -> None:
    with pytest.raises(MalformedRequestError):
        witness.add_checkpoint(f"old 0\n\n{ORIGIN}\n1\nnot a note\n".encode())


def test_add_log_refuses_a_non_canonical_key(witness: Witness) -> None:
    key = log_signer(ORIGIN).verifier.to_string()
    with pytest.raises(MalformedError):
        witness.add_log(ORIGIN, [key + "=="])


def _race(witness: Witness, bodies: list[bytes]) -> list[object]:
    barrier = threading.Barrier(len(bodies))

    def submit(b: bytes) -> object:
        barrier.wait()
        try:
            return witness.add_checkpoint(b)
        except WitnessRefusal as exc:
            return exc

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(submit, bodies))


def test_concurrent_requests_from_one_old_size_cosign_exactly_one(witness: Witness, log: Log) -> None:
    grow(log, 10)
    witness.add_checkpoint(body(log, 0))
    bodies = []
    for _ in range(6):
        grow(log, 3)
        bodies.append(body(log, 10))
    results = _race(witness, bodies)
    winners = [i for i, r in enumerate(results) if isinstance(r, list)]
    assert len(winners) == 1
    assert all(isinstance(r, SizeConflictError) for i, r in enumerate(results) if i != winners[0])
    state = witness.store.witnessed_log(ORIGIN)
    assert state is not None and state.size == 10 + 3 * (winners[0] + 1)


def test_concurrent_forked_checkpoints_of_one_size_cosign_only_one_root(
    witness: Witness, forked_logs: tuple[Log, Log]
) -> None:
    a, b = forked_logs
    witness.add_checkpoint(body(a, 0))
    grow(a, 7, "a")
    grow(b, 7, "b")
    results = _race(witness, [body(a, SHARED), body(b, SHARED)] * 2)
    assert sum(isinstance(r, list) for r in results) == 1
    state = witness.store.witnessed_log(ORIGIN)
    assert state is not None and state.root_hash in (a.root()[1], b.root()[1])
