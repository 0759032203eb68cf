"""A peer's sealed document (`CrossRegionVerifier.prove_sealed_document`) on both databases, with the in-memory peer
of test_crossregion: the `DocumentSealed` of a PDF is proven on the peer's log and bound to the licence by the
peer's signed map; each forgery is refused — bytes that do not match the leaf, another PDF's hash, another
licence's stream, a leaf that is no DocumentSealed, a peer that has none — and the status comes from the map."""

from __future__ import annotations

import hashlib
import json

import pytest

from anchors.crossregion import NOT_IN_PEER_LOG, CrossRegionVerifier, PeerRefusal, SealedDocumentProof
from anchors.sealed_documents import SealedDocumentRef
from tests.anchors.test_crossregion import ORIGIN, World, identifier, stream_of, world  # noqa: F401

SEALED = "licences.domain:DocumentSealed"
PDF = hashlib.sha256(b"a sealed licence PDF").hexdigest()


def _state(pdf_sha256: str = PDF, version: int = 1) -> bytes:
    return json.dumps({"licence_version": version, "pdf_sha256": pdf_sha256, "timestamp": "2026-01-01"}).encode()


def _seal(w: World, serial: int, *, stream: str | None = None, state: bytes | None = None) -> int:
    """Licence `serial` minted, then its PDF sealed (a DocumentSealed in `stream`, default the licence's own)."""
    w.peer.mint(serial)
    data = _state() if state is None else state
    leaf = w.peer.append(stream or stream_of(identifier(serial)), SEALED, state=data)
    w.peer.sealed[(identifier(serial), PDF)] = SealedDocumentRef(leaf, data)
    return leaf


def _prove(verifier: CrossRegionVerifier, serial: int) -> SealedDocumentProof:
    doc = verifier.peer_trust_list(ORIGIN)
    return verifier.prove_sealed_document(ORIGIN, doc, identifier(serial), 1, PDF, None)


def test_a_sealed_document_on_the_peers_log_is_proven(world: World) -> None:  # noqa: F811
    leaf = _seal(world, 1)
    proof = _prove(world.verifier, 1)
    assert proof.on_ledger is None and proof.status == (), (proof.on_ledger, proof.status)
    assert proof.inclusion is not None and proof.inclusion.leaf_index == leaf and proof.sealed_version == 1
    world.peer.set_status(1, "revoked")
    revoked = _prove(world.verifier, 1)
    assert revoked.on_ledger is None and [f.code for f in revoked.status] == ["revoked"]


def test_every_forged_sealed_document_is_refused(world: World) -> None:  # noqa: F811
    cases = {}
    # bytes that are not what the leaf commits to
    leaf = _seal(world, 2)
    world.peer.sealed[(identifier(2), PDF)] = SealedDocumentRef(leaf, _state(version=1) + b" ")
    cases["bytes"] = 2
    # the leaf seals another PDF
    _seal(world, 3, state=_state(pdf_sha256="0" * 64))
    cases["hash"] = 3
    # a DocumentSealed of this PDF, but in another licence's stream
    _seal(world, 4, stream=stream_of(identifier(99)))
    cases["stream"] = 4
    # a leaf that is no DocumentSealed
    world.peer.mint(5)
    minted = world.peer.append(stream_of(identifier(5)), "licences.domain:LicenceAmended", state=_state())
    world.peer.sealed[(identifier(5), PDF)] = SealedDocumentRef(minted, _state())
    cases["type"] = 5
    # a version other than the identifier's
    _seal(world, 6, state=_state(version=2))
    cases["version"] = 6
    # the peer has none
    world.peer.mint(7)
    cases["none"] = 7
    for why, serial in cases.items():
        proof = _prove(world.verifier, serial)
        assert proof.on_ledger is not None and proof.on_ledger.code == NOT_IN_PEER_LOG, (why, proof.on_ledger)
        assert proof.status == (), why  # the licence itself is in force: only the document is refused


def test_a_peer_that_is_down_leaves_the_document_unconfirmed_and_an_unknown_one_is_refused(world: World) -> None:  # noqa: F811
    _seal(world, 8)
    doc = world.verifier.peer_trust_list(ORIGIN)
    world.peer.down = True
    proof = world.verifier.prove_sealed_document(ORIGIN, doc, identifier(8), 1, PDF, None)
    assert proof.on_ledger is not None and proof.on_ledger.code in {"inclusion_unconfirmed", NOT_IN_PEER_LOG}
    assert [f.code for f in proof.status] == ["status_unconfirmed"]
    with pytest.raises(PeerRefusal, match="not a peer region") as refused:
        world.verifier.peer_trust_list("ledger.unknown.example/log")
    assert refused.value.finding.code == "unknown_region"
