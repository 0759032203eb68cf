"""Cross-region verification (anchors.crossregion) on both databases, with a peer served from memory: every check
accepts the honest case and rejects its forgery — signature, key at the leaf's time, the minting leaf, the inclusion
proof, the acceptance rule, a stale trust list, a fork, the status proof; and the verdict when the peer does not
answer. The peer keeps a status map beside its log, as a region does (DESIGN §4b)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from anchors.crossregion import CrossRegionVerifier, CrossVerdict
from anchors.errors import PeerUnreachableError
from anchors.federation import Federation
from anchors.peers import parse_peer_status_proof
from anchors.sealed_documents import SealedDocumentRef
from anchors.store import AnchorStore
from anchors.store_crossregion import CrossRegionStore
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.statusmap import MapUpdate
from ledger.store import LedgerStore, make_engine
from signatures.cose import Ed25519Signer, LicenceClaims, decode_token, sign_token
from signatures.keyring import KeyRecord
from signatures.statusmap import path_of
from signatures.statusproof import StatusProof, StatusValue
from signatures.trustlist import TrustedIssuer, TrustList, build_trust_list, sign_trust_list
from tests.anchors.helpers import ISSUER, NOT_BEFORE, TYPE, ed_key, log_signer
from tests.conftest import FakeClock

ORIGIN = "ledger.ha.gov.example/log"
OTHER_TYPE = "11100000000013338W001"
MINTED_AT = datetime(2026, 1, 1, 7, 0, tzinfo=UTC)
ROOT = ed_key("root:" + ORIGIN)
TOKEN_KEY = ed_key("token:" + ORIGIN)


def stream_of(identifier: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, identifier))


def identifier(serial: int) -> str:
    return f"1.2.156.3005.2.{TYPE}.{ISSUER}.{serial:011d}.001.X"


@dataclass
class Peer:
    """Region A in memory: its log with its status map, trust list, token key, and how it answers (or not)."""

    log: Log
    clock: FakeClock
    trust_list_doc: TrustList | None = None
    trust_list_bytes: bytes = b""
    down: bool = False
    leaves_served: int = 0
    trust_lists_served: int = 0
    tamper_proof: bool = False
    token_key: Ed25519PrivateKey = TOKEN_KEY
    status_proofs: list[tuple[str, int | None]] = field(default_factory=list)  # (identifier, size) asked
    proof_at: int | None = None  # serve status proofs at this older size when asked for the newest
    proof_at_always: bool = False  # ... and even when asked for a size
    tamper_status: Callable[[StatusProof], StatusProof] | None = None
    stream_versions: dict[str, int] = field(default_factory=dict)
    valid_until: datetime | None = None  # of the status map entries written from now on
    sealed: dict[tuple[str, str], SealedDocumentRef] = field(default_factory=dict)  # (identifier, pdf sha) → answer

    def publish(self, *keys: KeyRecord, days: int = 7) -> TrustList:
        records = keys or (KeyRecord.from_public_key(self.token_key.public_key(), ISSUER, NOT_BEFORE),)
        doc = build_trust_list(
            region_code="410000",
            region_name="河南省",
            log_origin=ORIGIN,
            log_verifier_key=log_signer(ORIGIN).verifier.to_string(),
            issuers=[TrustedIssuer(ISSUER, "河南省市场监督管理局", (TYPE, OTHER_TYPE), records)],
            issued_at=self.clock.now.replace(microsecond=0),
            next_update=self.clock.now.replace(microsecond=0) + timedelta(days=days),
            previous=self.trust_list_doc,
        )
        self.trust_list_doc = doc
        self.trust_list_bytes = json.dumps(sign_trust_list(doc, Ed25519Signer(ROOT)), ensure_ascii=False).encode()
        return doc

    def _up(self) -> None:
        if self.down:
            raise PeerUnreachableError("connection refused")

    def trust_list(self) -> bytes:
        self._up()
        self.trust_lists_served += 1
        return self.trust_list_bytes

    def checkpoint(self) -> bytes:
        self._up()
        cp = self.log.latest_checkpoint()
        assert cp is not None
        return cp.note.encode()

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._up()
        return self.log.consistency_proof(first, second)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        self._up()
        proof = self.log.inclusion_proof(index, tree_size)[1]
        return [bytes(32), *proof[1:]] if self.tamper_proof and proof else proof

    def leaf(self, index: int) -> bytes:
        self._up()
        self.leaves_served += 1
        return self.log.leaf(index)[0]

    def status_proof(self, identifier: str, size: int | None = None, token: str | None = None) -> StatusProof:
        self._up()
        self.status_proofs.append((identifier, size))
        if self.proof_at is not None and (size is None or self.proof_at_always):
            size = self.proof_at
        proof = self.log.status_proof(identifier, size)
        if self.tamper_status is not None:
            proof = self.tamper_status(proof)
        # what crosses the wire, read back as the HTTP client reads it
        return parse_peer_status_proof(json.dumps(proof.to_json()).encode(), identifier)

    def sealed_document(self, identifier: str, pdf_sha256: str) -> SealedDocumentRef | None:
        """Where this peer says the DocumentSealed of a PDF is (`sealed`, set by the test)."""
        self._up()
        return self.sealed.get((identifier, pdf_sha256))

    def append(
        self,
        stream: str,
        topic: str,
        when: datetime = MINTED_AT,
        status: tuple[str, str, int] | None = None,
        state: bytes = b'{"x":1}',
    ) -> int:
        """Record an event; with `status` = (identifier, status, version), its status map entry changes with it."""
        recorder = LedgerRecorder(self.log.store, clock=lambda: when)
        size = self.log.size()
        with self.log.store.write() as conn:
            version = self.stream_versions[stream] = self.stream_versions.get(stream, 0) + 1
            recorder.insert_events([StoredEvent(uuid.UUID(stream), version, topic, state)])
            if status is not None:
                ident, word, version = status
                value = StatusValue(ident, version, word, MINTED_AT, self.valid_until, size)
                self.log.status_map.apply(conn, [MapUpdate(path_of(ident), stream, value.to_canonical())], size + 1)
        self.log.sign_checkpoint(log_signer(ORIGIN), self.clock.now)
        return size

    def set_status(self, serial: int, word: str, topic: str = "licences.domain:LicenceRevoked") -> int:
        """A lifecycle event of licence `serial` that changes its status map entry (revoked, suspended, …)."""
        ident = identifier(serial)
        return self.append(stream_of(ident), topic, self.clock.now, (ident, word, 1))

    def mint(
        self,
        serial: int,
        *,
        topic: str = "licences.domain:LicenceIssued",
        key: Ed25519PrivateKey | None = None,
        iat: datetime = MINTED_AT,
        licence_type: str = TYPE,
        stream: str | None = None,
        in_map: bool = True,
    ) -> bytes:
        ident = identifier(serial)
        li = self.append(stream or stream_of(ident), topic, status=(ident, "active", 1) if in_map else None)
        return self.token(serial, li, key=key, iat=iat, licence_type=licence_type)

    def token(
        self,
        serial: int,
        li: int,
        *,
        key: Ed25519PrivateKey | None = None,
        iat: datetime = MINTED_AT,
        licence_type: str = TYPE,
    ) -> bytes:
        """A token of licence `serial` naming leaf `li` as its minting event (whatever that leaf is)."""
        claims = LicenceClaims(
            issuer=ISSUER,
            subject=identifier(serial),
            issued_at=int(iat.timestamp()),
            not_before=int(MINTED_AT.timestamp()),
            expires_at=None,
            licence_type=licence_type,
            version=1,
            holder_digest=bytes(16),
            leaf_index=li,
            log_origin=ORIGIN,
        )
        return sign_token(claims, Ed25519Signer(key or self.token_key))


@dataclass
class World:
    peer: Peer
    federation: Federation
    store: CrossRegionStore
    verifier: CrossRegionVerifier
    clock: FakeClock

    def accept(self, *types: str) -> None:
        self.store.add_rule(ORIGIN, sorted(types), "", self.clock.now)


@pytest.fixture
def world(anchor_store: AnchorStore, tmp_path: Path) -> Iterator[World]:
    clock = FakeClock(datetime(2026, 1, 1, 8, 0, tzinfo=UTC))
    log_store = LedgerStore(make_engine(f"sqlite:///{tmp_path / 'peer.db'}"))
    log_store.create_tables()
    peer = Peer(Log(log_store, ORIGIN), clock)
    peer.append(str(uuid.uuid4()), "tests.anchors:Genesis")
    peer.publish()
    federation = Federation(anchor_store, clock, lambda _: peer)
    federation.add_peer(ORIGIN, "http://peer.example", ROOT.public_key().public_bytes_raw())
    federation.sync(ORIGIN)
    store = CrossRegionStore(anchor_store.engine)
    store.create_tables()
    verifier = CrossRegionVerifier(federation, store, lambda _: peer)
    yield World(peer, federation, store, verifier, clock)
    verifier.close()
    log_store.close()


def codes(result: object) -> list[str]:
    return [f.code for f in result.reasons]  # type: ignore[attr-defined]


def test_a_peer_licence_verifies_and_its_leaf_is_proven_once(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(1)
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.VALID and result.valid and codes(result) == []
    assert result.claims is not None and result.claims.subject == identifier(1)
    assert result.inclusion is not None and result.inclusion.checkpoint.size == world.peer.log.size()
    assert result.rule is not None and result.rule.version == 1
    assert result.minted is not None and result.minted.recorded_at.startswith("2026-01-01T07:00:00")
    served = world.peer.leaves_served
    again = world.verifier.verify(token)
    assert again.verdict is CrossVerdict.VALID and world.peer.leaves_served == served  # proven once, kept


def test_acceptance_is_versioned_and_fails_closed(world: World) -> None:
    token = world.peer.mint(2)
    no_rule = world.verifier.verify(token)
    assert no_rule.verdict is CrossVerdict.REFUSED and codes(no_rule) == ["type_not_accepted"]
    world.accept(OTHER_TYPE)
    other = world.verifier.verify(token)
    assert other.verdict is CrossVerdict.REFUSED and "version 1" in other.reasons[0].detail
    world.accept(OTHER_TYPE, TYPE)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID
    world.store.add_rule(ORIGIN, [], "withdrawn", world.clock.now)
    withdrawn = world.verifier.verify(token)
    assert withdrawn.verdict is CrossVerdict.REFUSED and "version 3" in withdrawn.reasons[0].detail
    assert [r.version for r in world.store.rules(ORIGIN)] == [1, 2, 3]


def test_a_region_that_is_not_a_peer_is_refused(world: World) -> None:
    world.accept(TYPE)
    claims_origin = "ledger.js.gov.example/log"
    token = world.peer.mint(3)
    forged = token.replace(ORIGIN.encode(), claims_origin.encode())
    result = world.verifier.verify(forged)
    assert result.verdict is CrossVerdict.REFUSED and codes(result) == ["unknown_region"]
    assert result.claims is None


def test_a_bad_signature_or_an_unknown_key_is_invalid(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(4)
    flipped = token[:-1] + bytes([token[-1] ^ 1])
    assert codes(world.verifier.verify(flipped)) == ["bad_signature"]
    stranger = world.peer.mint(5, key=ed_key("stranger"))
    result = world.verifier.verify(stranger)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["unknown_key"] and result.claims is None


def test_a_new_key_is_followed_by_an_on_demand_sync(world: World) -> None:
    world.accept(TYPE)
    old = world.peer.mint(6)
    assert world.verifier.verify(old).verdict is CrossVerdict.VALID
    new_key = ed_key("token2:" + ORIGIN)
    records = [KeyRecord.from_public_key(k.public_key(), ISSUER, NOT_BEFORE) for k in (TOKEN_KEY, new_key)]
    world.peer.publish(*records)  # v2 names the new key; we still hold v1
    world.clock.advance(seconds=11)  # past the on-demand sync throttle of the first verification
    result = world.verifier.verify(world.peer.mint(7, key=new_key))
    assert result.verdict is CrossVerdict.VALID, result.reasons
    assert result.trust_list is not None and result.trust_list.version == 2
    assert world.verifier.verify(old).verdict is CrossVerdict.VALID


def test_when_the_peer_is_down_the_status_cannot_be_confirmed(world: World) -> None:
    world.accept(TYPE)
    seen = world.peer.mint(8)
    unseen = world.peer.mint(9)
    world.federation.sync(ORIGIN)
    assert world.verifier.verify(seen).verdict is CrossVerdict.VALID
    world.peer.down = True
    result = world.verifier.verify(seen)
    assert result.verdict is CrossVerdict.VALID_UNCONFIRMED and codes(result) == ["status_unconfirmed"]
    assert "status cannot be confirmed" in result.reasons[0].detail and not result.valid
    never = world.verifier.verify(unseen)
    assert never.verdict is CrossVerdict.UNCONFIRMED
    assert codes(never) == ["inclusion_unconfirmed", "status_unconfirmed"]


def test_a_stale_trust_list_is_invalid_until_refreshed(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(10)
    world.federation.sync(ORIGIN)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID
    world.peer.down = True
    world.clock.advance(days=7)  # exactly next_update: stale
    stale = world.verifier.verify(token)
    assert stale.verdict is CrossVerdict.INVALID and codes(stale) == ["trust_list_stale"]
    assert "expired at" in stale.reasons[0].detail and "connection refused" in stale.reasons[0].detail
    fetched = world.peer.trust_lists_served
    world.verifier.verify(token)
    assert world.peer.trust_lists_served == fetched  # the on-demand sync is throttled, not retried per request
    world.peer.down = False
    world.peer.publish()
    world.clock.advance(seconds=11)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID


def test_the_status_proven_by_the_peers_map_is_final(world: World) -> None:
    world.accept(TYPE)
    revoked, disowned = world.peer.mint(11), world.peer.mint(12, in_map=False)
    assert world.verifier.verify(revoked).verdict is CrossVerdict.VALID
    world.peer.set_status(11, "revoked")
    result = world.verifier.verify(revoked)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["revoked"]
    assert result.proven is not None and result.proven.size == world.peer.log.size()
    assert "checkpoint" in result.reasons[0].detail
    nothing = world.verifier.verify(disowned)  # the peer's signed map proves it has no entry for the licence
    assert nothing.verdict is CrossVerdict.INVALID and codes(nothing) == ["peer_disowns"]
    assert nothing.proven is not None and nothing.proven.value is None


def test_the_leaf_must_be_the_licences_minting_event(world: World) -> None:
    world.accept(TYPE)
    not_minting = world.peer.mint(13, topic="licences.domain:LicenceSuspended")
    result = world.verifier.verify(not_minting)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["not_in_peer_log"]
    # The peer's signed map binds the licence to its stream (the entry's last event); the stream id is never
    # computed here, so a keyed one works the same. Another licence's minting leaf is refused:
    other = world.peer.mint(15)
    world.peer.mint(14)
    borrowed = world.peer.token(14, decode_token(other)[1].leaf_index)
    refused = world.verifier.verify(borrowed)
    assert refused.verdict is CrossVerdict.INVALID and codes(refused) == ["not_in_peer_log"]
    assert "not in the stream of" in refused.reasons[0].detail
    # ... and so is a minting event of its own stream that its map entry does not reach (after its last event)
    world.peer.mint(16)
    later = world.peer.append(stream_of(identifier(16)), "licences.domain:LicenceIssued")
    beyond = world.verifier.verify(world.peer.token(16, later))
    assert beyond.verdict is CrossVerdict.INVALID and codes(beyond) == ["not_in_peer_log"]
    assert "after leaf" in beyond.reasons[0].detail
    # a licence that lives in a stream of any name (a keyed id) verifies: nothing is computed from its identifier
    keyed = world.peer.mint(17, stream=str(uuid.uuid4()))
    assert world.verifier.verify(keyed).verdict is CrossVerdict.VALID


def test_a_proof_that_does_not_verify_is_invalid(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(15)
    world.federation.sync(ORIGIN)
    world.peer.tamper_proof = True
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["not_in_peer_log"]
    assert world.store.leaf(ORIGIN, result.claims.leaf_index if result.claims else -1) is None  # nothing kept


def test_a_leaf_beyond_every_checkpoint_we_verified_needs_a_sync(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(16)  # the peer signed a newer checkpoint than the one we hold
    result = world.verifier.verify(token)  # the verifier syncs (consistency checked) and proves it
    assert result.verdict is CrossVerdict.VALID
    latest = world.federation.store.latest_peer_checkpoint(ORIGIN)
    assert latest is not None and latest.size == world.peer.log.size()


def test_a_key_compromised_before_the_leaf_was_recorded_is_refused_despite_a_backdated_iat(world: World) -> None:
    world.accept(TYPE)
    record = KeyRecord.from_public_key(TOKEN_KEY.public_key(), ISSUER, NOT_BEFORE)
    world.peer.publish(replace(record, compromised_since=MINTED_AT - timedelta(hours=1)))
    world.federation.sync(ORIGIN)
    token = world.peer.mint(17, iat=MINTED_AT - timedelta(hours=2))  # iat before the compromise, leaf after
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["key_compromised"]


def test_a_forked_peer_is_trusted_for_nothing(world: World, anchor_store: AnchorStore) -> None:
    world.accept(TYPE)
    token = world.peer.mint(18)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID
    anchor_store.raise_alarm(
        origin=ORIGIN,
        kind="fork-same-size",
        detail="two roots",
        first=(1, "a"),
        second=(1, "b"),
        proof=(),
        now=world.clock.now,
    )
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["peer_forked"]


def test_a_malformed_token_is_invalid_not_an_exception(world: World) -> None:
    result = world.verifier.verify(b"\x00not cbor")
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["malformed"]


def test_a_fork_found_by_the_on_demand_sync_is_raised_and_refuses(world: World, tmp_path: Path) -> None:
    world.accept(TYPE)
    forked_store = LedgerStore(make_engine(f"sqlite:///{tmp_path / 'forked.db'}"))
    forked_store.create_tables()
    world.peer.log = Log(forked_store, ORIGIN)  # same keys, another history: a different first leaf
    world.peer.append(str(uuid.uuid4()), "tests.anchors:Genesis")
    token = world.peer.mint(19)  # beyond what we verified: the verifier syncs and meets the fork
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["peer_forked"]
    alarms = world.federation.store.alarms(ORIGIN)
    assert [a.kind for a in alarms] == ["fork-inconsistent"]
    forked_store.close()


def test_a_licence_minted_a_moment_after_the_last_sync_waits_for_the_next_one_and_is_confirmed(
    world: World,
) -> None:
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        world.clock.advance(seconds=seconds)

    verifier = CrossRegionVerifier(world.federation, world.store, lambda _: world.peer, wait=wait)
    try:
        world.accept(TYPE)
        first = verifier.verify(world.peer.mint(1))  # beyond our verified checkpoint: synced on demand
        assert first.verdict is CrossVerdict.VALID and waits == []
        world.clock.advance(seconds=0.25)
        second = verifier.verify(world.peer.mint(2))  # needs a newer checkpoint within the second: waits, then syncs
        assert second.verdict is CrossVerdict.VALID, codes(second)
        assert waits == [0.75]
        assert second.inclusion is not None and second.inclusion.checkpoint.size == world.peer.log.size()
    finally:
        verifier.close()


# -- the status, proven by the peer's status map (DESIGN §4b) ----------------------------------------------------------


def _value_says(word: str) -> Callable[[StatusProof], StatusProof]:
    """A peer rewriting its proof's value (canonically) to say `word`: the map root it signed no longer matches."""

    def rewrite(proof: StatusProof) -> StatusProof:
        doc = json.loads(proof.value or "null")
        doc["status"] = word
        value = StatusValue(
            doc["identifier"],
            doc["version"],
            word,
            datetime.strptime(doc["valid_from"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC),
            None,
            doc["event_index"],
        )
        return replace(proof, value=value.to_canonical())

    return rewrite


def _flip_sibling(proof: StatusProof) -> StatusProof:
    first = bytes([proof.siblings[0][0] ^ 1]) + proof.siblings[0][1:]
    return replace(proof, siblings=(first, *proof.siblings[1:]))


def test_a_tampered_status_proof_is_refused_not_believed(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(30)
    world.peer.mint(31)  # a second entry: the proof has a sibling
    world.peer.set_status(30, "revoked")
    world.peer.tamper_status = _value_says("active")  # "active" for a revoked licence
    lied = world.verifier.verify(token)
    assert lied.verdict is CrossVerdict.INVALID and codes(lied) == ["status_proof_invalid"], lied.reasons
    assert "does not verify" in lied.reasons[0].detail and lied.proven is None
    world.peer.tamper_status = _flip_sibling
    flipped = world.verifier.verify(token)
    assert flipped.verdict is CrossVerdict.INVALID and codes(flipped) == ["status_proof_invalid"]
    world.peer.tamper_status = lambda p: replace(p, identifier=identifier(31))  # answers for another licence
    other = world.verifier.verify(token)
    assert other.verdict is CrossVerdict.INVALID and codes(other) == ["status_proof_invalid"]
    world.peer.tamper_status = None
    assert codes(world.verifier.verify(token)) == ["revoked"]


def test_a_status_proof_under_a_checkpoint_signed_by_another_key_is_refused(world: World) -> None:
    from signatures.note import sign_note

    world.accept(TYPE)
    token = world.peer.mint(32)

    def resign(proof: StatusProof) -> StatusProof:
        text = proof.checkpoint.split("\n\n", 1)[0] + "\n"
        return replace(proof, checkpoint=sign_note(text, log_signer("ledger.evil.example/log")))

    world.peer.tamper_status = resign
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["status_proof_invalid"]


def test_a_revocation_is_proven_at_a_checkpoint_learnt_from_the_proof_and_kept(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(33)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID
    world.peer.set_status(33, "revoked")  # the peer's log grew: we have not synced since
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["revoked"]
    assert result.proven is not None and result.proven.value is not None and result.proven.value.status == "revoked"
    latest = world.federation.store.latest_peer_checkpoint(ORIGIN)
    assert latest is not None and latest.size == result.proven.size == world.peer.log.size()  # checked and kept


def test_a_proof_older_than_the_checkpoint_we_verified_is_not_current(world: World) -> None:
    world.accept(TYPE)
    token = world.peer.mint(34)
    before = world.peer.log.size()
    world.peer.set_status(34, "revoked")
    world.federation.sync(ORIGIN)  # we have seen the checkpoint with the revocation
    world.peer.proof_at = before  # the peer answers with its map before the revocation: "active"
    asked_again = world.verifier.verify(token)  # asked again at our size, the honest answer is revoked
    assert asked_again.verdict is CrossVerdict.INVALID and codes(asked_again) == ["revoked"]
    assert world.peer.status_proofs[-1] == (identifier(34), world.peer.log.size())
    world.peer.proof_at_always = True  # it insists on the old map
    stale = world.verifier.verify(token)
    assert stale.verdict is CrossVerdict.VALID_UNCONFIRMED and not stale.valid
    assert codes(stale) == ["status_unconfirmed"] and "older than checkpoint" in stale.reasons[0].detail
    assert stale.proven is None


def test_a_status_proof_from_a_forked_log_raises_the_alarm(world: World, tmp_path: Path) -> None:
    world.accept(TYPE)
    token = world.peer.mint(35)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID  # its leaf is proven and kept
    forked_store = LedgerStore(make_engine(f"sqlite:///{tmp_path / 'forked-map.db'}"))
    forked_store.create_tables()
    fork = Peer(Log(forked_store, ORIGIN), world.clock)
    fork.append(str(uuid.uuid4()), "tests.anchors:Other-genesis")
    fork.mint(35)
    fork.append(str(uuid.uuid4()), "tests.anchors:Padding")
    fork.append(str(uuid.uuid4()), "tests.anchors:Padding")
    world.peer.log = fork.log  # same key, another history, larger than what we verified
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["peer_forked"], result.reasons
    assert [a.kind for a in world.federation.store.alarms(ORIGIN)] == ["fork-inconsistent"]
    forked_store.close()


def test_the_proven_validity_period_decides_for_an_active_entry(world: World) -> None:
    world.accept(TYPE)
    world.peer.valid_until = world.clock.now.replace(microsecond=0) + timedelta(hours=1)
    token = world.peer.mint(36)
    assert world.verifier.verify(token).verdict is CrossVerdict.VALID
    world.clock.advance(hours=2)
    result = world.verifier.verify(token)
    assert result.verdict is CrossVerdict.INVALID and codes(result) == ["expired"]
    assert "valid until" in result.reasons[0].detail
