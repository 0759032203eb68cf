"""Cross-region verification (DESIGN §9, 跨省通办): this region checks a peer region's licence without taking the
peer's word alone.

Three independent checks, then the verdict:
- the token's signature under the peer's trust list as this region last verified it (cached until `next_update`,
  refreshed on demand when stale or when the token names a key the cached copy does not have), with the key valid
  at the token's `iat` and at the time the peer's ledger recorded the minting event;
- the inclusion of that minting event (token claim `li`) under a checkpoint of the peer that this region verified
  itself (signature under the trust-listed log key, consistent with everything it saw — `Federation.sync`); the
  leaf must be a minting event (issued, renewed, amended) of this licence: in the same stream as the leaf of the
  last event the peer's signed status map records for the licence version (`event_index`, proven the same way),
  and no later than it. The stream id is never computed here (keyed stream ids cannot be, ADR 0013 3d). A proven
  leaf is kept, so it is proven once;
- the licence version's status now, proven by the peer's status map (DESIGN §4b, `GET /v1/status/proof`): the proof
  verifies under the trust-listed log key against the checkpoint it carries, and that checkpoint is one we verified
  ourselves — at least as large as the newest checkpoint of the peer we hold (an older one could hide a revocation:
  the proof is asked again at our size) and consistent with everything we saw (`Federation.verify_checkpoint`).
  Nothing of the peer's word is taken on trust (`GET /v1/federation/status` is no longer asked).
Plus this region's acceptance rule for the peer (which licence types it recognises) and no fork alarm for the peer.
A peer's sealed PDF rests on the same steps (`peer_trust_list`, `acceptance`, `prove_sealed_document`: its
`DocumentSealed` proven on the peer's log and bound to the licence's stream by the map); `verification.peer_pdf`
checks the seal itself.

Verdicts: `valid`; `valid_unconfirmed` (authentic and logged, but no current status could be proven: the peer did not
answer, or only with a proof older than what we saw); `unconfirmed` (authentic under a fresh trust list, but neither
logging nor status could be checked); `invalid` (a check failed, a status proof does not verify, the proven status
is not in force, the trust list is stale, or the peer forked); `refused` (not a peer this region federates with, or
a licence type it does not recognise from that peer).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from anchors.acceptance import AcceptanceRule, acceptance_problem
from anchors.crossregion_verdicts import (
    ACTIVE,
    INCLUSION_UNCONFIRMED,
    NOT_IN_PEER_LOG,
    PEER_DISOWNS,
    PEER_FORKED,
    STATUS_PROOF_INVALID,
    STATUS_UNCONFIRMED,
    TRUST_LIST_STALE,
    TYPE_NOT_ACCEPTED,
    UNKNOWN_REGION,
    CrossRegionResult,
    CrossVerdict,
    Finding,
    PeerRefusal,
    SealedDocumentProof,
    entry_findings,
    proven_findings,
    sealed_body,
    utc_text,
)
from anchors.errors import ForkDetectedError, PeerError, PeerUnreachableError
from anchors.federation import Federation, InclusionEvidence, PeerView, stored_trust_list
from anchors.model import PeerCheckpoint
from anchors.peers import PeerSource
from anchors.sealed_documents import SealedDocumentRef
from anchors.store_crossregion import CrossRegionStore, ProvenLeaf
from ledger.envelope import Envelope, parse_leaf_data
from ledger.errors import LedgerError, ProofError
from ledger.merkle import leaf_hash, verify_inclusion
from signatures.cose import LicenceClaims, TokenReason, decode_token
from signatures.errors import MalformedError, SignatureError, TokenRejectedError, VerificationError
from signatures.keyring import key_problem_at_second
from signatures.offline import TrustedToken, verify_licence_token
from signatures.statusproof import ProvenStatus, StatusProof, verify_status_proof
from signatures.trustlist import TrustList

__all__ = [
    "ACTIVE",
    "INCLUSION_UNCONFIRMED",
    "MINTING_EVENTS",
    "NOT_IN_PEER_LOG",
    "PEER_DISOWNS",
    "PEER_FORKED",
    "STATUS_PROOF_INVALID",
    "STATUS_UNCONFIRMED",
    "TRUST_LIST_STALE",
    "TYPE_NOT_ACCEPTED",
    "UNKNOWN_REGION",
    "CrossRegionResult",
    "CrossRegionVerifier",
    "CrossVerdict",
    "Finding",
    "PeerLicenceSource",
    "PeerRefusal",
    "SealedDocumentProof",
    "entry_findings",
    "proven_findings",
    "sealed_body",
    "utc_text",
]

MINTING_EVENTS = frozenset({"LicenceIssued", "LicenceRenewed", "LicenceAmended"})
# On-demand syncs, per peer: for a trust list (stale, or a key we do not know: anyone can forge such a token) at
# most every 10 s; for a checkpoint covering an authentic token's leaf (only an issuer's key can ask) every second,
# the pace at which a region signs checkpoints anyway. A checkpoint sync asked for within that second waits for the
# rest of it rather than giving up: a licence minted a moment ago is then confirmed, not left "unconfirmed".
TRUST_LIST_SYNC_INTERVAL = timedelta(seconds=10)
CHECKPOINT_SYNC_INTERVAL = timedelta(seconds=1)
NOT_IN_FORCE = frozenset({"not_yet_valid", "expired", "suspended", "revoked", "superseded"})
_T = TypeVar("_T")
MEMORY_CAP = 100_000  # proven leaves and checkpoints kept in memory (immutable facts; the database keeps them all)
PEER_THREADS = 16  # concurrent reads from peers (status proof, leaf) across requests


class PeerLicenceSource(PeerSource, Protocol):
    """A peer's read API plus the two reads licence verification needs (`anchors.peers.HttpPeerSource` has them)."""

    def leaf(self, index: int) -> bytes:
        """`GET /v1/log/leaves/<index>`: the leaf data."""
        ...

    def status_proof(self, identifier: str, size: int | None = None, token: str | None = None) -> StatusProof:
        """`GET /v1/status/proof?identifier=[&size=][&token=]`: the status map proof of a licence version, strictly
        parsed (`PeerUnreachableError` when not answered, another `PeerError` when the answer is not a proof). A type
        a citizen may hold is proven only to the token's possessor: the token (or QR URL) at hand goes along."""
        ...

    def sealed_document(self, identifier: str, pdf_sha256: str) -> SealedDocumentRef | None:
        """`GET /v1/sealed-documents/{pdf_sha256}?identifier=`: where the peer's `DocumentSealed` of a PDF is."""
        ...


class _Stop(Exception):
    """A step decided the verdict; `verify` turns this into the result."""

    def __init__(self, verdict: CrossVerdict, code: str, detail: str) -> None:
        super().__init__(detail)
        self.verdict = verdict
        self.finding = Finding(code, detail)


@dataclass
class _Work:
    origin: str
    token: bytes
    now: datetime
    view: PeerView | None = None
    trusted: TrustedToken | None = None
    trust_list: TrustList | None = None
    inclusion: InclusionEvidence | None = None
    minted: Envelope | None = None
    proven: ProvenStatus | None = None
    rule: AcceptanceRule | None = None
    findings: list[Finding] = field(default_factory=list)

    def result(self, verdict: CrossVerdict) -> CrossRegionResult:
        return CrossRegionResult(
            self.origin,
            verdict,
            tuple(self.findings),
            self.now,
            self.trusted,
            self.trust_list,
            self.inclusion,
            self.minted,
            self.proven,
            self.rule,
            None if self.view is None else self.view.peer.base_url,
        )


class CrossRegionVerifier:
    """Verifies peer regions' licence tokens over the federation this region keeps (peers, checkpoints, alarms)."""

    def __init__(
        self,
        federation: Federation,
        store: CrossRegionStore,
        source_for: Callable[[str], PeerLicenceSource],
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.federation = federation
        self._wait = wait
        self.store = store
        self.source_for = source_for  # by peer base URL
        self._lock = threading.Lock()
        self._last_sync: dict[tuple[str, str], datetime] = {}
        self._parsed: dict[str, tuple[str, TrustList]] = {}
        self._leaves: dict[tuple[str, int], ProvenLeaf] = {}
        self._checkpoints: dict[tuple[str, int], PeerCheckpoint] = {}
        self._pool = ThreadPoolExecutor(PEER_THREADS, thread_name_prefix="peer-read")

    def close(self) -> None:
        """Stop the peer-read threads (reads under way finish first)."""
        self._pool.shutdown(wait=True)

    def verify(self, token: bytes) -> CrossRegionResult:
        """The verdict on a peer region's licence token (raw COSE_Sign1 bytes); never raises for a bad token."""
        # Steps: (1) whose token; (2) a registered peer with no fork alarm; (3) its trust list, fresh; (4) the token
        # under it; (5) the type is recognised here; (6) the minting leaf included under a checkpoint we verified, the
        # key good at the leaf's time; (7) the status now, proven by the peer's status map under a checkpoint we
        # verified, no older than the newest we hold; (6b) the minting leaf in the stream of the entry's last event.
        now = self.federation.clock()
        try:
            _, claims = decode_token(token)
        except MalformedError as exc:
            return _Work("", token, now, findings=[Finding(str(TokenReason.MALFORMED), str(exc))]).result(
                CrossVerdict.INVALID
            )
        work = _Work(claims.log_origin, token, now)
        try:
            self._run(work, claims)
        except _Stop as stop:
            work.findings.append(stop.finding)
            return work.result(stop.verdict)
        return work.result(self._bottom_line(work))

    def _run(self, work: _Work, claims: LicenceClaims) -> None:
        # (1)-(2): a peer we federate with, not caught forking
        work.view = self._peer_view(work.origin)
        # (3): its trust list, refreshed on demand when stale or missing the token's key
        work.trust_list = self._trust_list(work, work.view, decode_token(work.token)[0].kid)
        # (4): signature, key at iat, issuer and type per the peer's trust list, validity period
        try:
            work.trusted = verify_licence_token(work.token, work.trust_list, work.now)
        except TokenRejectedError as exc:
            raise _Stop(CrossVerdict.INVALID, str(exc.reason), str(exc)) from exc
        # (5): do we recognise this licence type from this peer?
        work.rule = self.store.latest_rule(work.origin)
        problem = acceptance_problem(work.rule, work.origin, claims.licence_type)
        if problem is not None:
            raise _Stop(CrossVerdict.REFUSED, TYPE_NOT_ACCEPTED, problem)
        # (7), asked now, answered while we check (6): the status proof, only for an authentic token
        source = self.source_for(work.view.peer.base_url)
        token_text = base64.urlsafe_b64encode(work.token).rstrip(b"=").decode("ascii")
        asked = self._pool.submit(source.status_proof, claims.subject, None, token_text)
        try:
            # (6): the minting event on the peer's log, under a checkpoint we verified
            self._inclusion(work, source)
        except _Stop:
            asked.cancel()  # the verdict is decided: the peer's answer is not waited for
            raise
        # (7): checked here, after (6): checking may sync the peer's checkpoints, which (6) may have done too
        self._status(work, asked, source, claims.subject, token_text)
        # (6b): the minting leaf is this licence's, by the peer's signed map (needs (7)'s proven entry)
        self._bound(work, source)

    def _status(
        self, work: _Work, asked: Future[StatusProof], source: PeerLicenceSource, subject: str, token: str | None
    ) -> None:
        """The proven status, or a `status_unconfirmed` finding when no proof at a current checkpoint came."""
        try:
            proven = self._proven(work, _answer(asked.result), source)
            latest = self.federation.store.latest_peer_checkpoint(work.origin)
            if latest is not None and proven.size < latest.size:
                # Older than a checkpoint we verified: it may hide a revocation. Asked again, at our newest size.
                proven = self._proven(work, _answer(lambda: source.status_proof(subject, latest.size, token)), source)
                if proven.size < latest.size:
                    raise PeerError(
                        f"its status proof is against checkpoint {proven.size}, older than checkpoint {latest.size} "
                        "this region verified: not current"
                    )
        except PeerError as exc:
            work.findings.append(Finding(STATUS_UNCONFIRMED, f"status cannot be confirmed: {work.origin}: {exc}"))
            return
        work.proven = proven

    def _proven(self, work: _Work, proof: StatusProof, source: PeerLicenceSource) -> ProvenStatus:
        """A status proof verified under the trust-listed log key, its checkpoint verified and kept as one of ours.

        `_Stop` for a proof that does not verify or a fork; `PeerError` when it cannot be checked now."""
        assert work.trust_list is not None
        try:
            proven = verify_status_proof(proof, work.trust_list.log_verifier(), work.origin)
        except SignatureError as exc:  # VerificationError, MalformedError
            detail = f"the status proof of {work.origin} does not verify against its signed checkpoint: {exc}"
            raise _Stop(CrossVerdict.INVALID, STATUS_PROOF_INVALID, detail) from exc
        try:
            self.federation.verify_checkpoint(work.origin, proven.checkpoint, source, work.trust_list)
        except ForkDetectedError as exc:
            self._no_fork(work.origin)  # the alarm is stored: stop with it
            raise _Stop(CrossVerdict.INVALID, PEER_FORKED, str(exc)) from exc
        except SignatureError as exc:  # verified just above: only a checkpoint we cannot use gets here
            raise _Stop(CrossVerdict.INVALID, STATUS_PROOF_INVALID, f"status proof checkpoint: {exc}") from exc
        return proven

    def _peer_view(self, origin: str) -> PeerView:
        peer = self.federation.store.peer(origin)
        if peer is None:
            raise _Stop(CrossVerdict.REFUSED, UNKNOWN_REGION, f"{origin!r} is not a peer region of this region")
        self._no_fork(origin)
        return PeerView(self.federation.store, peer, self.federation.clock)

    def _no_fork(self, origin: str) -> None:
        alarms = self.federation.store.alarms(origin, limit=1)
        if alarms:
            a = alarms[0]
            detail = f"{origin} showed two views of its log (alarm #{a.id}, {a.kind}): none of its licences is trusted"
            raise _Stop(CrossVerdict.INVALID, PEER_FORKED, detail)

    # -- (3) trust list ----------------------------------------------------------------------------------------------

    def _fresh(self, view: PeerView, now: datetime) -> TrustList | None:
        text = view.peer.trust_list
        if text is None:
            return None
        with self._lock:
            cached = self._parsed.get(view.origin)
        if cached is None or cached[0] != text:
            doc = stored_trust_list(view.peer)
            assert doc is not None
            with self._lock:
                self._parsed[view.origin] = (text, doc)
        else:
            doc = cached[1]
        return None if doc.is_stale_at(now) else doc

    def _trust_list(self, work: _Work, view: PeerView, kid: bytes | None) -> TrustList:
        """The peer's trust list as we last verified it, synced on demand when stale, never fetched, or (for a
        token) missing the key `kid` names."""
        doc = self._fresh(view, work.now)
        if doc is not None and (kid is None or doc.public_key(kid) is not None):
            return doc
        error = self._sync(work.origin, "trust list")  # stale, never synced, or a key newer than our copy
        view = work.view = self.federation.view(work.origin)
        doc = self._fresh(view, work.now) or doc
        if doc is None:
            until = view.trust_list_valid_until()
            why = "was never fetched" if until is None else f"expired at {utc_text(until)} (its next_update)"
            detail = f"trust list stale: the trust list of {work.origin} {why}"
            raise _Stop(
                CrossVerdict.INVALID, TRUST_LIST_STALE, detail + (f"; refreshing it failed: {error}" if error else "")
            )
        return doc

    def _sync(self, origin: str, wanted: str) -> str | None:
        """Sync one peer now (throttled per peer and purpose); the error text if it failed, None if it worked."""
        now = self.federation.clock()
        interval = TRUST_LIST_SYNC_INTERVAL if wanted == "trust list" else CHECKPOINT_SYNC_INTERVAL
        with self._lock:
            last = self._last_sync.get((origin, wanted))
            delay = 0.0 if last is None else min((last + interval - now).total_seconds(), interval.total_seconds())
            if delay > 0 and wanted == "trust list":
                ago = interval.total_seconds() - delay
                return f"not retried: last on-demand sync for a {wanted} {ago:.1f} s ago"
            delay = max(delay, 0.0)
            self._last_sync[(origin, wanted)] = now + timedelta(seconds=delay)
        if delay:
            self._wait(delay)
        try:
            self.federation.sync(origin)
        except ForkDetectedError:
            self._no_fork(origin)  # the alarm is stored: stop with it
            raise
        except (PeerError, SignatureError) as exc:
            return str(exc)
        return None

    # -- (6) inclusion -------------------------------------------------------------------------------------------------

    def _inclusion(self, work: _Work, source: PeerLicenceSource) -> None:
        assert work.trusted is not None
        claims = work.trusted.claims
        try:
            evidence, data = self._prove(work.origin, claims.leaf_index, source)
        except PeerError as exc:
            work.findings.append(Finding(INCLUSION_UNCONFIRMED, f"inclusion cannot be confirmed: {exc}"))
            return
        work.minted = self._minting_leaf(data, claims)
        moment = datetime.strptime(work.minted.recorded_at, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        problem = key_problem_at_second(work.trusted.key, int(moment.timestamp() // 1))
        if problem is not None:
            detail = f"{problem.replace('_', ' ')} (the time {work.origin} recorded the minting event)"
            raise _Stop(CrossVerdict.INVALID, problem, detail)
        work.inclusion = evidence

    def _prove(self, origin: str, index: int, source: PeerLicenceSource) -> tuple[InclusionEvidence, bytes]:
        """The leaf at `index` and its inclusion under a checkpoint we verified: kept from before, or fetched now."""
        try:
            cached = self._proven_leaf(origin, index)
            if cached is not None:
                cp = self._checkpoint(origin, cached.tree_size)
                return self._included(cp, index, cached.leaf_data, cached.proof), cached.leaf_data
            cp = self._covering(origin, index)
            reading = self._pool.submit(source.leaf, index)  # the leaf and its proof: two reads, asked at once
            proof = source.inclusion_proof(index, cp.size)
            data = reading.result()
            evidence = self._included(cp, index, data, proof)
        except VerificationError as exc:
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, str(exc)) from exc
        leaf = ProvenLeaf(origin, index, data, cp.size, evidence.proof, self.federation.clock())
        self.store.save_leaf(leaf)
        self._remember(self._leaves, (origin, index), leaf)
        return evidence, data

    def _covering(self, origin: str, index: int) -> PeerCheckpoint:
        """Our largest verified checkpoint of `origin`, synced first if it does not cover `index` yet."""
        latest = self.federation.store.latest_peer_checkpoint(origin)
        if latest is None or index >= latest.size:
            error = self._sync(origin, "checkpoint")  # a newer one, checked for consistency with all we saw
            latest = self.federation.store.latest_peer_checkpoint(origin)
            if latest is None or index >= latest.size:
                size = 0 if latest is None else latest.size
                detail = f"leaf {index} is beyond the largest verified checkpoint of {origin} ({size})"
                raise PeerError(detail + (f"; sync: {error}" if error else ""))
        return latest

    @staticmethod
    def _included(
        cp: PeerCheckpoint, index: int, data: bytes, proof: tuple[bytes, ...] | list[bytes]
    ) -> InclusionEvidence:
        digest = leaf_hash(data)
        try:
            verify_inclusion(index, cp.size, digest, proof, cp.root_hash)
        except ProofError as exc:
            raise VerificationError(f"leaf {index} is not in {cp.origin} at size {cp.size}: {exc}") from exc
        return InclusionEvidence(index, digest, tuple(proof), cp)

    def _proven_leaf(self, origin: str, index: int) -> ProvenLeaf | None:
        with self._lock:
            leaf = self._leaves.get((origin, index))
        if leaf is None:
            leaf = self.store.leaf(origin, index)
            if leaf is not None:
                self._remember(self._leaves, (origin, index), leaf)
        return leaf

    def _checkpoint(self, origin: str, size: int) -> PeerCheckpoint:
        with self._lock:
            cp = self._checkpoints.get((origin, size))
        if cp is None:
            cp = self.federation.store.peer_checkpoint(origin, size)
            if cp is None:
                raise VerificationError(f"no verified checkpoint of {origin} at size {size}")
            self._remember(self._checkpoints, (origin, size), cp)
        return cp

    def _remember(self, memory: dict[tuple[str, int], _T], key: tuple[str, int], value: _T) -> None:
        """Keep an immutable fact (a proven leaf, a verified checkpoint: first one wins, never changes) in memory."""
        with self._lock:
            if len(memory) >= MEMORY_CAP:
                memory.clear()
            memory[key] = value

    def _minting_leaf(self, data: bytes, claims: LicenceClaims) -> Envelope:
        """The envelope of leaf `li`: it must be that leaf and a minting event (which licence it minted is decided
        by `_bound`, from the peer's signed status map: keyed stream ids cannot be computed here)."""
        try:
            envelope = parse_leaf_data(data)
        except LedgerError as exc:
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, f"leaf {claims.leaf_index}: {exc}") from exc
        kind = envelope.type.rpartition(":")[2]
        if envelope.index != claims.leaf_index or kind not in MINTING_EVENTS:
            detail = f"leaf {claims.leaf_index} of {claims.log_origin} is not the event that minted {claims.subject}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        return envelope

    def _bound(self, work: _Work, source: PeerLicenceSource) -> None:
        """(6b) Leaf `li` belongs to the token's licence: the entry of the licence version proven in (7) names the
        leaf of its last lifecycle event (`event_index`); that leaf, proven under a checkpoint we verified, must be
        in the same stream as `li`, and `li` no later than it. The binding identifier → stream thus comes from the
        peer's signed map, not from a stream id computed here (keyed stream ids cannot be, ADR 0013 3d)."""
        proven, minted, trusted = work.proven, work.minted, work.trusted
        if proven is None or minted is None or trusted is None or proven.value is None:
            return  # nothing proven to bind to: the verdict cannot be `valid` (status unconfirmed or disowned)
        claims, value = trusted.claims, proven.value
        if value.version != claims.version:
            return  # `peer_disowns` decides (`proven_findings`)
        where = f"leaf {claims.leaf_index} of {work.origin}"
        if claims.leaf_index > value.event_index:
            detail = (
                f"{where} is after leaf {value.event_index}, the last event of {claims.subject} in its status map: "
                "not the event that minted it"
            )
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        try:
            last = minted if value.event_index == claims.leaf_index else self._event(work, value.event_index, source)
        except PeerError as exc:
            work.inclusion = None  # proven in the log, but not proven to be this licence's
            work.findings.append(Finding(INCLUSION_UNCONFIRMED, f"inclusion cannot be confirmed: {exc}"))
            return
        if last.stream != minted.stream:
            detail = f"{where} is not in the stream of {claims.subject} (its status map entry's leaf {last.index})"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)

    def _event(self, work: _Work, index: int, source: PeerLicenceSource) -> Envelope:
        """The envelope of leaf `index` of the peer's log, proven under a checkpoint we verified."""
        _, data = self._prove(work.origin, index, source)
        return self._envelope(work, index, data)

    @staticmethod
    def _envelope(work: _Work, index: int, data: bytes) -> Envelope:
        try:
            envelope = parse_leaf_data(data)
        except LedgerError as exc:
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, f"leaf {index} of {work.origin}: {exc}") from exc
        if envelope.index != index:
            detail = f"leaf {index} of {work.origin} names index {envelope.index}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        return envelope

    # -- a peer's sealed document (`verification.peer_pdf` checks the seal itself) ------------------------------------

    def peer_trust_list(self, origin: str) -> TrustList:
        """Steps (2)-(3) for a peer's document: a registered peer with no fork alarm, and its trust list as we last
        verified it, fresh (synced on demand); `PeerRefusal` otherwise. Its seal CAs and TSA are what we trust."""
        work = _Work(origin, b"", self.federation.clock())
        try:
            work.view = self._peer_view(origin)
            return self._trust_list(work, work.view, None)
        except _Stop as stop:
            raise PeerRefusal(stop.verdict, stop.finding) from stop

    def acceptance(self, origin: str, licence_type: str) -> tuple[AcceptanceRule | None, str | None]:
        """Step (5): the rule in force for the peer, and why it does not recognise `licence_type` (None if it does)."""
        rule = self.store.latest_rule(origin)
        return rule, acceptance_problem(rule, origin, licence_type)

    def prove_sealed_document(
        self, origin: str, trust_list: TrustList, identifier: str, version: int, pdf_sha256: str, token: str | None
    ) -> SealedDocumentProof:
        """The `DocumentSealed` of a PDF on the peer's log and the licence version's status, each proven (never on
        the peer's word): the status as for a token, step (7); the sealed leaf included under a checkpoint we
        verified, its stored bytes matching its `payload_sha256` and naming this PDF hash and `version`, and in the
        stream of the last event the peer's signed map records for `identifier`. `token` is the PDF's QR URL (its
        token proves possession to the peer for a type a citizen may hold)."""
        work = _Work(origin, b"", self.federation.clock(), view=self.federation.view(origin), trust_list=trust_list)
        assert work.view is not None
        source = self.source_for(work.view.peer.base_url)
        asked = self._pool.submit(source.status_proof, identifier, None, token)
        located = self._pool.submit(source.sealed_document, identifier, pdf_sha256)
        status: list[Finding] = []
        try:
            self._status(work, asked, source, identifier, token)
        except _Stop as stop:
            status.append(stop.finding)
        status += work.findings
        if work.proven is not None:
            status += entry_findings(work.proven, identifier, version, origin, work.now)
        on_ledger: Finding | None = None
        sealed: tuple[Envelope, int, InclusionEvidence] | None = None
        try:
            sealed = self._sealed(work, located, source, identifier, version, pdf_sha256)
        except _Stop as stop:
            on_ledger = stop.finding
        except PeerError as exc:
            on_ledger = Finding(INCLUSION_UNCONFIRMED, f"the sealed document cannot be confirmed: {exc}")
        return SealedDocumentProof(
            origin,
            work.now,
            on_ledger,
            tuple(status),
            None if sealed is None else sealed[0],
            None if sealed is None else sealed[1],
            None if sealed is None else sealed[2],
            work.proven,
            work.view.peer.base_url,
        )

    def _sealed(
        self,
        work: _Work,
        located: Future[SealedDocumentRef | None],
        source: PeerLicenceSource,
        identifier: str,
        version: int,
        pdf_sha256: str,
    ) -> tuple[Envelope, int, InclusionEvidence]:
        """The peer's `DocumentSealed` of the PDF, proven; `_Stop` when it is not (or not this licence's), a
        `PeerError` when it cannot be checked now."""
        where = f"{work.origin}'s log"
        try:
            ref = located.result()
        except PeerUnreachableError:
            raise
        except PeerError as exc:
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, f"not an answer about a sealed document: {exc}") from exc
        if ref is None:
            detail = f"no DocumentSealed with this PDF's SHA-256 for {identifier} on {where}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        evidence, data = self._prove(work.origin, ref.leaf_index, source)
        envelope = self._envelope(work, ref.leaf_index, data)
        body = sealed_body(ref.state) if hashlib.sha256(ref.state).hexdigest() == envelope.payload_sha256 else None
        if envelope.type.rpartition(":")[2] != "DocumentSealed" or body is None or body[0] != pdf_sha256:
            detail = f"leaf {ref.leaf_index} of {where} is not a DocumentSealed of this PDF's SHA-256"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        if body[1] != version:
            detail = f"leaf {ref.leaf_index} of {where} seals version {body[1]}; the PDF names {identifier}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        value = None if work.proven is None else work.proven.value
        if work.proven is None:
            raise PeerError("whose DocumentSealed it is needs the licence's status proof, which did not come")
        if value is None or value.version != version:
            detail = f"{work.origin}'s status map has no entry for {identifier}: the DocumentSealed is not its"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        last = envelope if value.event_index == ref.leaf_index else self._event(work, value.event_index, source)
        if last.stream != envelope.stream:
            detail = f"leaf {ref.leaf_index} of {where} is not in the stream of {identifier}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        return envelope, body[1], evidence

    # -- (7) the bottom line -------------------------------------------------------------------------------------------

    def _bottom_line(self, work: _Work) -> CrossVerdict:
        if work.proven is not None and work.trusted is not None:
            found = proven_findings(work.proven, work.trusted.claims, work.origin, work.now)
            if found:
                work.findings += found
                return CrossVerdict.INVALID
        if work.inclusion is None:
            return CrossVerdict.UNCONFIRMED
        return CrossVerdict.VALID if work.proven is not None else CrossVerdict.VALID_UNCONFIRMED


def _answer(read: Callable[[], StatusProof]) -> StatusProof:
    """A peer's status proof document: not answered is `PeerError` (unconfirmed); an answer that is no proof at all
    (not JSON, not strictly the proof format, another identifier) is refused like a proof that does not verify."""
    try:
        return read()
    except PeerUnreachableError:
        raise
    except PeerError as exc:
        raise _Stop(CrossVerdict.INVALID, STATUS_PROOF_INVALID, f"not a status proof: {exc}") from exc
