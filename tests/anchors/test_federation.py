"""Federation sync: trust list and checkpoint verified, every checkpoint kept, a real forked log detected and proven."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from anchors.alarms import fork_alarms_raised, fork_alarms_total
from anchors.errors import ForkDetectedError, PeerError, StaleTrustListError, UnknownPeerError
from anchors.federation import Federation
from anchors.store import AnchorStore
from anchors.witness import AddCheckpointRequest, Witness
from ledger.log import Log
from ledger.merkle import leaf_hash
from signatures.errors import VerificationError
from signatures.note import CheckpointBody, NoteSigner, sign_note
from tests.anchors.conftest import ORIGIN, SHARED
from tests.anchors.helpers import LogSource, append, ed_key, log_signer, sign, trust_list, witness_signer
from tests.conftest import FakeClock

ROOT = ed_key("root:" + ORIGIN)
URL = "https://ledger.ha.gov.example"


def raw(key: object) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)  # type: ignore[attr-defined, no-any-return]


@pytest.fixture
def peer(forked_logs: tuple[Log, Log], clock: FakeClock) -> LogSource:
    a, _ = forked_logs
    sign(a, log_signer(ORIGIN))
    return LogSource(a, trust_list(ORIGIN, ROOT, issued_at=clock())[1])


@pytest.fixture
def federation(anchor_store: AnchorStore, clock: FakeClock, peer: LogSource) -> Federation:
    f = Federation(anchor_store, clock, lambda _: peer)
    f.add_peer(ORIGIN, URL, raw(ROOT))
    return f


def grow_and_sign(log: Log, n: int, label: str) -> str:
    append(log.store, n, label=label, start=log.size())
    return sign(log, log_signer(ORIGIN))


def test_sync_verifies_and_keeps_every_checkpoint(federation: Federation, peer: LogSource, clock: FakeClock) -> None:
    first = federation.sync(ORIGIN)
    assert (first.trust_list_version, first.checkpoint_size, first.new_checkpoint) == (1, SHARED, True)
    assert not federation.sync(ORIGIN).new_checkpoint
    grow_and_sign(peer.log, 7, "a")
    clock.advance(minutes=1)
    assert federation.sync(ORIGIN).checkpoint_size == SHARED + 7
    assert peer.proofs_asked == [(SHARED, SHARED + 7)]
    store = federation.store
    assert [cp.size for cp in store.peer_checkpoints(ORIGIN)] == [SHARED + 7, SHARED]
    stored = store.peer(ORIGIN)
    assert stored is not None and stored.trust_list_version == 1 and stored.last_error is None
    witnessed = store.witnessed_log(ORIGIN)  # the region now witnesses its peer's log under the published key
    assert witnessed is not None and witnessed.verifier_keys == (log_signer(ORIGIN).verifier.to_string(),)


def test_an_older_checkpoint_is_checked_against_the_newer_one(
    federation: Federation, peer: LogSource, forked_logs: tuple[Log, Log]
) -> None:
    old_note = grow_and_sign(peer.log, 5, "a")
    grow_and_sign(peer.log, 5, "a")
    federation.sync(ORIGIN)  # sees SHARED + 10
    stale = LogSource(peer.log, peer.trust_list_bytes)
    stale.checkpoint = lambda: old_note.encode()  # type: ignore[method-assign]
    federation.source_for = lambda _: stale
    assert federation.sync(ORIGIN).checkpoint_size == SHARED + 5
    assert stale.proofs_asked == [(SHARED + 5, SHARED + 10)]


def test_two_roots_for_one_size_are_stored_and_raised(
    federation: Federation, peer: LogSource, forked_logs: tuple[Log, Log]
) -> None:
    a, b = forked_logs
    note_a = grow_and_sign(a, 10, "a")
    federation.sync(ORIGIN)
    note_b = grow_and_sign(b, 10, "b")
    peer.log = b  # the peer now shows another history of the same size
    before, same_size_before = fork_alarms_total(), fork_alarms_raised().get("fork-same-size", 0)
    with pytest.raises(ForkDetectedError) as err:
        federation.sync(ORIGIN)
    (alarm,) = federation.store.alarms(ORIGIN)
    assert alarm.id == err.value.alarm_id and alarm.kind == "fork-same-size"
    assert (alarm.first_note, alarm.second_note) == (note_a, note_b)
    assert fork_alarms_total() == before + 1 and fork_alarms_raised()["fork-same-size"] == same_size_before + 1
    with pytest.raises(ForkDetectedError):
        federation.sync(ORIGIN)  # still a fork, but the same evidence: no second alarm
    assert len(federation.store.alarms()) == 1 and fork_alarms_total() == before + 1
    stored = federation.store.peer(ORIGIN)
    assert stored is not None and stored.last_error is not None and "cannot both be true" in stored.last_error
    assert federation.store.latest_peer_checkpoint(ORIGIN).note == note_a  # type: ignore[union-attr]


def test_inconsistent_growth_is_stored_with_the_failing_proof(
    federation: Federation, peer: LogSource, forked_logs: tuple[Log, Log]
) -> None:
    a, b = forked_logs
    note_a = grow_and_sign(a, 10, "a")
    federation.sync(ORIGIN)
    note_b = grow_and_sign(b, 15, "b")
    peer.log = b
    with pytest.raises(ForkDetectedError):
        federation.sync(ORIGIN)
    (alarm,) = federation.store.alarms()
    assert alarm.kind == "fork-inconsistent"
    assert (alarm.first_size, alarm.second_size) == (SHARED + 10, SHARED + 15)
    assert (alarm.first_note, alarm.second_note) == (note_a, note_b)
    assert len(alarm.proof) == len(b.consistency_proof(SHARED + 10, SHARED + 15)) > 0
    assert json.loads(json.dumps(alarm.to_json()))["proof"] == list(alarm.proof)


def test_a_checkpoint_contradicting_our_own_cosignature_is_a_fork(
    anchor_store: AnchorStore, clock: FakeClock, forked_logs: tuple[Log, Log]
) -> None:
    a, b = forked_logs
    witness = Witness(anchor_store, witness_signer(), clock)
    witness.add_log(ORIGIN, [log_signer(ORIGIN).verifier.to_string()])
    witness.add_checkpoint(AddCheckpointRequest(0, (), grow_and_sign(a, 10, "a")).to_body())
    grow_and_sign(b, 10, "b")
    federation = Federation(anchor_store, clock, lambda _: LogSource(b, trust_list(ORIGIN, ROOT, issued_at=clock())[1]))
    federation.add_peer(ORIGIN, URL, raw(ROOT))
    with pytest.raises(ForkDetectedError):
        federation.sync(ORIGIN)
    assert [x.kind for x in anchor_store.alarms()] == ["fork-same-size"]


def test_trust_list_checks(federation: Federation, peer: LogSource, clock: FakeClock) -> None:
    good_doc, good = trust_list(ORIGIN, ROOT, issued_at=clock())
    peer.trust_list_bytes = trust_list(ORIGIN, ed_key("someone else"), issued_at=clock())[1]
    with pytest.raises(VerificationError, match="root key"):
        federation.sync(ORIGIN)
    peer.trust_list_bytes = trust_list("other.example/log", ROOT, issued_at=clock())[1]
    with pytest.raises(VerificationError, match="trust list is for log"):
        federation.sync(ORIGIN)
    peer.trust_list_bytes = good
    federation.sync(ORIGIN)
    # A second document for version 1, validly signed: equivocation, kept as evidence.
    peer.trust_list_bytes = trust_list(ORIGIN, ROOT, issued_at=clock() + timedelta(seconds=1))[1]
    with pytest.raises(ForkDetectedError):
        federation.sync(ORIGIN)
    assert [x.kind for x in federation.store.alarms()] == ["trust-list-fork"]
    _, v3 = trust_list(
        ORIGIN, ROOT, issued_at=clock(), previous=trust_list(ORIGIN, ROOT, issued_at=clock(), previous=good_doc)[0]
    )
    peer.trust_list_bytes = v3
    with pytest.raises(VerificationError, match="gap"):
        federation.sync(ORIGIN)
    v2_doc, v2 = trust_list(ORIGIN, ROOT, issued_at=clock(), previous=good_doc)
    peer.trust_list_bytes = v2
    assert federation.sync(ORIGIN).trust_list_version == 2
    peer.trust_list_bytes = good
    with pytest.raises(VerificationError, match="rolled back"):
        federation.sync(ORIGIN)
    clock.advance(days=8)
    peer.trust_list_bytes = v2
    with pytest.raises(VerificationError, match="stale"):
        federation.sync(ORIGIN)
    assert v2_doc.version == 2


def test_a_checkpoint_under_another_log_key_is_refused(federation: Federation, peer: LogSource) -> None:
    size, root = peer.log.root()
    forged = sign_note(CheckpointBody(ORIGIN, size, root).to_text(), NoteSigner(ORIGIN, ed_key("not the log key")))
    peer.checkpoint = lambda: forged.encode()  # type: ignore[method-assign]
    with pytest.raises(VerificationError):
        federation.sync(ORIGIN)
    assert federation.store.latest_peer_checkpoint(ORIGIN) is None


def test_unknown_peers_and_bad_registrations(federation: Federation) -> None:
    with pytest.raises(UnknownPeerError):
        federation.sync("nobody.example/log")
    with pytest.raises(PeerError):
        federation.add_peer("x.example/log", "ftp://x.example", raw(ROOT))
    with pytest.raises(PeerError):
        federation.add_peer("x.example/log", URL, b"short")
    with pytest.raises(PeerError):
        federation.add_peer(ORIGIN, URL, raw(ROOT))  # already registered


def test_sync_all_goes_on_after_a_failure(federation: Federation, peer: LogSource, clock: FakeClock) -> None:
    federation.add_peer("js.example/log", "https://js.example", raw(ed_key("root:js")))
    results = federation.sync_all()
    assert sum(isinstance(r, Exception) for r in results) == 1  # js serves ha's trust list: wrong root key
    assert any(not isinstance(r, Exception) and r.origin == ORIGIN for r in results)


def test_peer_view_answers_inclusion_and_freshness(federation: Federation, peer: LogSource, clock: FakeClock) -> None:
    view = federation.view(ORIGIN)
    with pytest.raises(StaleTrustListError, match="never synced"):
        view.trust_list()
    grow_and_sign(peer.log, 30, "a")
    federation.sync(ORIGIN)
    view = federation.view(ORIGIN)
    assert view.trust_list().log_origin == ORIGIN
    assert view.trust_list_valid_until() == clock().replace(microsecond=0) + timedelta(days=7)
    data, _ = peer.log.leaf(17)
    evidence = view.prove_inclusion(peer, 17, leaf_hash(data))
    assert evidence.checkpoint.size == SHARED + 30 and evidence.leaf_index == 17
    with pytest.raises(VerificationError):
        view.prove_inclusion(peer, 17, leaf_hash(data + b" "))
    with pytest.raises(VerificationError, match="beyond"):
        view.prove_inclusion(peer, SHARED + 30, leaf_hash(data))
    with pytest.raises(VerificationError, match="no verified checkpoint"):
        view.verify_inclusion(17, leaf_hash(data), [], tree_size=SHARED + 1)
    clock.advance(days=7)
    with pytest.raises(StaleTrustListError, match="expired"):
        view.trust_list()
