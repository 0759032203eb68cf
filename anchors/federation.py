"""Federation (DESIGN §9): each region reads its peers' trust lists and checkpoints, and never forgets what it saw.

`sync` checks, for one peer: the trust list (root key pinned at `peers add`, hash chain to the last version seen,
freshness), the checkpoint (the log key named in that trust list), and consistency with every checkpoint of that log
seen before — its neighbours among the stored ones, and the one our witness cosigned. Two roots for one size, or a
consistency proof that fails, is stored as evidence and raised as an alarm. `PeerView` is what cross-region licence
verification builds on: the cached trust list until `next_update`, and inclusion under a checkpoint we verified.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from anchors.alarms import raise_alarm
from anchors.errors import AnchorStoreError, ForkDetectedError, PeerError, StaleTrustListError, UnknownPeerError
from anchors.model import PeerCheckpoint, PeerRecord
from anchors.peers import PeerSource
from anchors.store import AnchorStore
from clock import Clock
from ledger.errors import ProofError
from ledger.merkle import verify_consistency, verify_inclusion
from signatures.errors import SignatureError, VerificationError
from signatures.note import CheckpointBody, open_checkpoint
from signatures.trustlist import TrustList, parse_signed_trust_list, verify_trust_list

_log = logging.getLogger("anchors.federation")


@dataclass(frozen=True)
class SyncResult:
    """What one sync of one peer found."""

    origin: str
    trust_list_version: int
    next_update: datetime
    checkpoint_size: int
    new_checkpoint: bool

    def to_json(self) -> dict[str, object]:
        """The CLI/API form."""
        return {
            "origin": self.origin,
            "trust_list_version": self.trust_list_version,
            "next_update": self.next_update.isoformat(),
            "checkpoint_size": self.checkpoint_size,
            "new_checkpoint": self.new_checkpoint,
        }


def stored_trust_list(peer: PeerRecord) -> TrustList | None:
    """The last verified trust list of a peer, re-parsed from storage (it was verified when stored)."""
    if peer.trust_list is None:
        return None
    return TrustList.from_payload(json.loads(peer.trust_list)["payload"])


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


class Federation:
    """The peer registry and its sync, over one anchors store; `source_for` opens a peer's read API."""

    def __init__(
        self,
        store: AnchorStore,
        clock: Clock,
        source_for: Callable[[PeerRecord], PeerSource],
        *,
        witness_peers: bool = True,
    ) -> None:
        self.store = store
        self.clock = clock
        self.source_for = source_for
        self.witness_peers = witness_peers

    def add_peer(self, origin: str, base_url: str, root_key: bytes, witness_key: str | None = None) -> PeerRecord:
        """Register a peer with its pinned trust-list root key (32 raw Ed25519 bytes)."""
        try:
            Ed25519PublicKey.from_public_bytes(root_key)
        except ValueError as exc:
            raise PeerError("root key must be a 32-byte Ed25519 public key") from exc
        if not base_url.startswith(("http://", "https://")):
            raise PeerError(f"peer URL {base_url!r} must start with http:// or https://")
        if self.store.peer(origin) is not None:
            raise PeerError(f"peer {origin} is already registered")
        record = PeerRecord(origin, base_url.rstrip("/"), root_key, witness_key, self.clock())
        try:
            self.store.add_peer(record)
        except AnchorStoreError as exc:  # registered concurrently
            raise PeerError(str(exc)) from exc
        return record

    def peer(self, origin: str) -> PeerRecord:
        """The registered peer, or UnknownPeerError."""
        peer = self.store.peer(origin)
        if peer is None:
            raise UnknownPeerError(f"no peer {origin!r} is registered")
        return peer

    def sync(self, origin: str) -> SyncResult:
        """Fetch and verify one peer's trust list and checkpoint; record the outcome (and any fork) on the peer."""
        peer = self.peer(origin)
        try:
            result = self._sync(peer)
        except (PeerError, SignatureError) as exc:
            self.store.update_peer(replace(peer, last_sync_at=self.clock(), last_error=str(exc)))
            raise
        return result

    def sync_all(self) -> list[SyncResult | PeerError | SignatureError]:
        """Sync every peer; one failure does not stop the others."""
        out: list[SyncResult | PeerError | SignatureError] = []
        for peer in self.store.peers():
            try:
                out.append(self.sync(peer.origin))
            except (PeerError, SignatureError) as exc:
                out.append(exc)
        return out

    def _sync(self, peer: PeerRecord) -> SyncResult:
        # Steps: (1) trust list under the pinned root key, chained to the last one seen; (2) checkpoint under the log
        # key that trust list names; (3) consistency with every checkpoint seen before (fork → alarm); (4) keep it.
        source = self.source_for(peer)
        now = self.clock()
        # (1): the trust list
        signed_text, doc = self._trust_list(peer, source, now)
        if doc.log_origin != peer.origin:
            raise VerificationError(f"trust list is for log {doc.log_origin!r}, not {peer.origin!r}")
        # (2): the checkpoint
        raw_note = source.checkpoint()
        body = open_checkpoint(raw_note, doc.log_verifier(), peer.origin)  # strict UTF-8, size-capped
        note = raw_note.decode("utf-8")
        # (3): consistency with what we saw
        seen = self.store.peer_checkpoint(peer.origin, body.size)
        self._check_consistent(peer.origin, source, note, body)
        # (4): keep the checkpoint and the trust list; witness the peer's log under the key it publishes
        if seen is None:
            self.store.save_peer_checkpoint(PeerCheckpoint(peer.origin, body.size, body.root_hash, note, now))
        self.store.update_peer(
            replace(
                peer,
                trust_list=signed_text,
                trust_list_version=doc.version,
                next_update=doc.next_update,
                last_sync_at=now,
                last_error=None,
            )
        )
        if self.witness_peers:
            self.store.add_witnessed_log(peer.origin, [doc.log_verifier_key])
        _log.info("synced peer %s: trust list v%d, checkpoint %d", peer.origin, doc.version, body.size)
        return SyncResult(peer.origin, doc.version, doc.next_update, body.size, seen is None)

    def verify_checkpoint(self, origin: str, note: str, source: PeerSource, doc: TrustList) -> PeerCheckpoint:
        """A checkpoint of `origin` met outside a sync (the one a status proof carries): signed under the log key of
        the trust list `doc` we verified, consistent with every checkpoint of that log we saw before (a fork is stored
        and raised as in `sync`), then kept. Returns the stored checkpoint of its size."""
        body = open_checkpoint(note, doc.log_verifier(), origin)
        seen = self.store.peer_checkpoint(origin, body.size)
        if seen is not None and seen.root_hash == body.root_hash:
            return seen  # verified before: consistent with everything since (each newer one was checked against it)
        self._check_consistent(origin, source, note, body)
        return self.store.save_peer_checkpoint(PeerCheckpoint(origin, body.size, body.root_hash, note, self.clock()))

    def _trust_list(self, peer: PeerRecord, source: PeerSource, now: datetime) -> tuple[str, TrustList]:
        raw = source.trust_list()
        signed = parse_signed_trust_list(raw)
        root = Ed25519PublicKey.from_public_bytes(peer.root_key)
        previous = stored_trust_list(peer)
        if previous is not None:
            # Two validly signed documents for one version is equivocation: evidence, not just an error.
            candidate = verify_trust_list(signed, root, now, allow_stale=True)
            if candidate.version == previous.version and candidate.digest() != previous.digest():
                assert peer.trust_list is not None
                alarm_id = raise_alarm(
                    self.store,
                    origin=peer.origin,
                    kind="trust-list-fork",
                    detail=f"two different signed trust lists for version {previous.version}",
                    first=(previous.version, peer.trust_list),
                    second=(candidate.version, json.dumps(signed, ensure_ascii=False, sort_keys=True)),
                    proof=(),
                    now=now,
                )
                raise ForkDetectedError(f"peer {peer.origin} signed two trust lists for one version", alarm_id)
        doc = verify_trust_list(signed, root, now, previous)
        return json.dumps(signed, ensure_ascii=False, sort_keys=True), doc

    def _check_consistent(self, origin: str, source: PeerSource, note: str, body: CheckpointBody) -> None:
        same = self.store.peer_checkpoint(origin, body.size)
        if same is not None:
            if same.root_hash != body.root_hash:
                self._fork(origin, "fork-same-size", (same.size, same.note), (body.size, note), [], "two roots")
            return
        below, above = self.store.peer_neighbours(origin, body.size)
        if below is not None:
            self._prove(origin, source, (below.size, below.root_hash, below.note), (body.size, body.root_hash, note))
        if above is not None:
            self._prove(origin, source, (body.size, body.root_hash, note), (above.size, above.root_hash, above.note))
        witnessed = self.store.witnessed_log(origin)
        if witnessed is not None and witnessed.size > 0 and witnessed.note is not None:
            assert witnessed.root_hash is not None
            ours = (witnessed.size, witnessed.root_hash, witnessed.note)
            theirs = (body.size, body.root_hash, note)
            if witnessed.size == body.size:
                if witnessed.root_hash != body.root_hash:
                    self._fork(origin, "fork-same-size", (ours[0], ours[2]), (theirs[0], theirs[2]), [], "witnessed")
            else:
                self._prove(origin, source, *sorted([ours, theirs]))

    def _prove(
        self, origin: str, source: PeerSource, first: tuple[int, bytes, str], second: tuple[int, bytes, str]
    ) -> None:
        proof = source.consistency_proof(first[0], second[0])
        try:
            verify_consistency(first[0], second[0], first[1], second[1], proof)
        except ProofError as exc:
            self._fork(origin, "fork-inconsistent", (first[0], first[2]), (second[0], second[2]), proof, str(exc))

    def _fork(
        self, origin: str, kind: str, first: tuple[int, str], second: tuple[int, str], proof: list[bytes], why: str
    ) -> None:
        detail = f"log {origin} showed checkpoints {first[0]} and {second[0]} that cannot both be true: {why}"
        alarm_id = raise_alarm(
            self.store,
            origin=origin,
            kind=kind,
            detail=detail,
            first=first,
            second=second,
            proof=_b64(proof),
            now=self.clock(),
        )
        raise ForkDetectedError(detail, alarm_id)

    def view(self, origin: str) -> PeerView:
        """The read-only view of one peer used to verify its licences (phase 2 builds on this)."""
        return PeerView(self.store, self.peer(origin), self.clock)


@dataclass(frozen=True)
class InclusionEvidence:
    """Leaf `leaf_index` is in the peer's log under `checkpoint`, which this region verified itself."""

    leaf_index: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: PeerCheckpoint


class PeerView:
    """What this region knows of one peer, for verifying the peer's licences without taking its word alone."""

    def __init__(self, store: AnchorStore, peer: PeerRecord, clock: Clock) -> None:
        self.store = store
        self.peer = peer
        self.clock = clock

    @property
    def origin(self) -> str:
        """The peer's log origin."""
        return self.peer.origin

    def trust_list_valid_until(self) -> datetime | None:
        """When the cached trust list stops being usable (its `next_update`), or None if never synced."""
        return self.peer.next_update

    def trust_list(self) -> TrustList:
        """The cached trust list while it is fresh; StaleTrustListError at or after `next_update`."""
        doc = stored_trust_list(self.peer)
        if doc is None:
            raise StaleTrustListError(f"peer {self.origin} was never synced: no trust list")
        if doc.is_stale_at(self.clock()):
            raise StaleTrustListError(f"trust list of {self.origin} expired at {doc.next_update.isoformat()}")
        return doc

    def latest_checkpoint(self) -> PeerCheckpoint:
        """The largest checkpoint of the peer this region verified."""
        cp = self.store.latest_peer_checkpoint(self.origin)
        if cp is None:
            raise PeerError(f"no checkpoint of {self.origin} has been verified yet")
        return cp

    def verify_inclusion(
        self, leaf_index: int, leaf_hash: bytes, proof: list[bytes], tree_size: int | None = None
    ) -> InclusionEvidence:
        """Check an inclusion proof against a checkpoint we verified (default: the latest); VerificationError if not."""
        cp = self.latest_checkpoint() if tree_size is None else self.store.peer_checkpoint(self.origin, tree_size)
        if cp is None:
            raise VerificationError(f"no verified checkpoint of {self.origin} at size {tree_size}")
        try:
            verify_inclusion(leaf_index, cp.size, leaf_hash, proof, cp.root_hash)
        except ProofError as exc:
            raise VerificationError(f"leaf {leaf_index} is not in {self.origin} at size {cp.size}: {exc}") from exc
        return InclusionEvidence(leaf_index, leaf_hash, tuple(proof), cp)

    def prove_inclusion(self, source: PeerSource, leaf_index: int, leaf_hash: bytes) -> InclusionEvidence:
        """Fetch the peer's inclusion proof for a leaf under our latest verified checkpoint, and check it."""
        cp = self.latest_checkpoint()
        if not 0 <= leaf_index < cp.size:
            raise VerificationError(f"leaf {leaf_index} is beyond the verified checkpoint of size {cp.size}")
        return self.verify_inclusion(leaf_index, leaf_hash, source.inclusion_proof(leaf_index, cp.size), cp.size)
