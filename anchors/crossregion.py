"""Cross-region verification (DESIGN §9, 跨省通办): this region checks a peer region's licence without taking the
peer's word alone.

Three independent checks, then the verdict:
- the token's signature under the peer's trust list as this region last verified it (cached until `next_update`,
  refreshed on demand when stale or when the token names a key the cached copy does not have), with the key valid
  at the token's `iat` and at the time the peer's ledger recorded the minting event;
- the inclusion of that minting event (token claim `li`) under a checkpoint of the peer that this region verified
  itself (signature under the trust-listed log key, consistent with everything it saw — `Federation.sync`); the
  leaf must be a minting event of this licence's stream. A proven leaf is kept, so it is proven once;
- the licence version's status now, proven by the peer's status map (DESIGN §4b, `GET /v1/status/proof`): the proof
  verifies under the trust-listed log key against the checkpoint it carries, and that checkpoint is one we verified
  ourselves — at least as large as the newest checkpoint of the peer we hold (an older one could hide a revocation:
  the proof is asked again at our size) and consistent with everything we saw (`Federation.verify_checkpoint`).
  Nothing of the peer's word is taken on trust (`GET /v1/federation/status` is no longer asked).
Plus this region's acceptance rule for the peer (which licence types it recognises) and no fork alarm for the peer.

Verdicts: `valid`; `valid_unconfirmed` (authentic and logged, but no current status could be proven: the peer did not
answer, or only with a proof older than what we saw); `unconfirmed` (authentic under a fresh trust list, but neither
logging nor status could be checked); `invalid` (a check failed, a status proof does not verify, the proven status
is not in force, the trust list is stale, or the peer forked); `refused` (not a peer this region federates with, or
a licence type it does not recognise from that peer).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

from anchors.acceptance import AcceptanceRule, acceptance_problem
from anchors.errors import ForkDetectedError, PeerError, PeerUnreachableError
from anchors.federation import Federation, InclusionEvidence, PeerView, stored_trust_list
from anchors.model import PeerCheckpoint
from anchors.peers import PeerSource
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
ACTIVE = "active"  # the status map's word for a licence version in force (`signatures.statusmap.STATUSES`)

UNKNOWN_REGION = "unknown_region"
PEER_FORKED = "peer_forked"
TRUST_LIST_STALE = str(TokenReason.TRUST_LIST_STALE)
TYPE_NOT_ACCEPTED = "type_not_accepted"
NOT_IN_PEER_LOG = "not_in_peer_log"
INCLUSION_UNCONFIRMED = "inclusion_unconfirmed"
STATUS_UNCONFIRMED = "status_unconfirmed"
PEER_DISOWNS = "peer_disowns"
STATUS_PROOF_INVALID = "status_proof_invalid"


class CrossVerdict(StrEnum):
    """The bottom line of a cross-region verification."""

    VALID = "valid"
    VALID_UNCONFIRMED = "valid_unconfirmed"
    UNCONFIRMED = "unconfirmed"
    INVALID = "invalid"
    REFUSED = "refused"


@dataclass(frozen=True)
class Finding:
    """One reason behind a verdict: a stable code and what exactly was found."""

    code: str
    detail: str

    def to_json(self) -> dict[str, str]:
        """The API and CLI form."""
        return {"code": self.code, "detail": self.detail}


class PeerLicenceSource(PeerSource, Protocol):
    """A peer's read API plus the two reads licence verification needs (`anchors.peers.HttpPeerSource` has them)."""

    def leaf(self, index: int) -> bytes:
        """`GET /v1/log/leaves/<index>`: the leaf data."""
        ...

    def status_proof(self, identifier: str, size: int | None = None) -> StatusProof:
        """`GET /v1/status/proof?identifier=[&size=]`: the status map proof of a licence version, strictly parsed
        (`PeerUnreachableError` when not answered, another `PeerError` when the answer is not a proof)."""
        ...


@dataclass(frozen=True)
class CrossRegionResult:
    """The verdict on a peer's licence token and everything it rests on (claims only once the token is authentic)."""

    origin: str
    verdict: CrossVerdict
    reasons: tuple[Finding, ...]
    checked_at: datetime
    trusted: TrustedToken | None = None
    trust_list: TrustList | None = None
    inclusion: InclusionEvidence | None = None
    minted: Envelope | None = None
    proven: ProvenStatus | None = None
    rule: AcceptanceRule | None = None
    peer_url: str | None = None  # the issuing region's base URL (where its proofs can be fetched again)

    @property
    def valid(self) -> bool:
        """True only when every check passed and the peer's status map proves the licence in force."""
        return self.verdict is CrossVerdict.VALID

    @property
    def claims(self) -> LicenceClaims | None:
        """The token's claims, proven authentic (None for a token that failed its signature or key checks)."""
        return None if self.trusted is None else self.trusted.claims


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


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CrossRegionVerifier:
    """Verifies peer regions' licence tokens over the federation this region keeps (peers, checkpoints, alarms)."""

    def __init__(
        self,
        federation: Federation,
        store: CrossRegionStore,
        source_for: Callable[[str], PeerLicenceSource],
        stream_of: Callable[[str], str | None],
        wait: Callable[[float], None] = time.sleep,
    ) -> None:
        self.federation = federation
        self._wait = wait
        self.store = store
        self.source_for = source_for  # by peer base URL
        self.stream_of = stream_of  # licence identifier → the stream id its minting events are recorded under
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
        # verified, no older than the newest we hold.
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
        work.trust_list = self._trust_list(work, work.view)
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
        asked = self._pool.submit(source.status_proof, claims.subject)
        try:
            # (6): the minting event on the peer's log, under a checkpoint we verified
            self._inclusion(work, source)
        except _Stop:
            asked.cancel()  # the verdict is decided: the peer's answer is not waited for
            raise
        # (7): checked here, after (6): checking may sync the peer's checkpoints, which (6) may have done too
        self._status(work, asked, source)

    def _status(self, work: _Work, asked: Future[StatusProof], source: PeerLicenceSource) -> None:
        """The proven status, or a `status_unconfirmed` finding when no proof at a current checkpoint came."""
        assert work.trusted is not None
        subject = work.trusted.claims.subject
        try:
            proven = self._proven(work, _answer(asked.result), source)
            latest = self.federation.store.latest_peer_checkpoint(work.origin)
            if latest is not None and proven.size < latest.size:
                # Older than a checkpoint we verified: it may hide a revocation. Asked again, at our newest size.
                proven = self._proven(work, _answer(lambda: source.status_proof(subject, latest.size)), source)
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

    def _trust_list(self, work: _Work, view: PeerView) -> TrustList:
        doc = self._fresh(view, work.now)
        kid = decode_token(work.token)[0].kid
        if doc is not None and doc.public_key(kid) is not None:
            return doc
        error = self._sync(work.origin, "trust list")  # stale, never synced, or a key newer than our copy
        view = work.view = self.federation.view(work.origin)
        doc = self._fresh(view, work.now) or doc
        if doc is None:
            until = view.trust_list_valid_until()
            why = "was never fetched" if until is None else f"expired at {_time(until)} (its next_update)"
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
        try:
            envelope = parse_leaf_data(data)
        except LedgerError as exc:
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, f"leaf {claims.leaf_index}: {exc}") from exc
        stream = self.stream_of(claims.subject)
        kind = envelope.type.rpartition(":")[2]
        if (
            envelope.index != claims.leaf_index
            or stream is None
            or envelope.stream != stream
            or kind not in MINTING_EVENTS
        ):
            detail = f"leaf {claims.leaf_index} of {claims.log_origin} is not the event that minted {claims.subject}"
            raise _Stop(CrossVerdict.INVALID, NOT_IN_PEER_LOG, detail)
        return envelope

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


def proven_findings(proven: ProvenStatus, claims: LicenceClaims, origin: str, now: datetime) -> list[Finding]:
    """Why a proven status entry does not put the token's licence version in force at `now` (empty when it does).

    No entry (non-membership proven) or an entry for another version: the issuing region's own signed map disowns
    the token (`peer_disowns`); revoked, suspended, superseded: that code; active: the entry's validity period."""
    where = f"{origin} status map at checkpoint {proven.size}"
    value = proven.value
    if value is None:
        return [Finding(PEER_DISOWNS, f"{where} proves it has no entry for {claims.subject}")]
    if value.version != claims.version:
        detail = f"{where} records version {value.version} for {claims.subject}; the token shows {claims.version}"
        return [Finding(PEER_DISOWNS, detail)]
    if value.status != ACTIVE:
        return [Finding(value.status, f"{where} proves: {value.status} (event {value.event_index})")]
    if now < value.valid_from:
        return [Finding("not_yet_valid", f"{where} proves: valid from {_time(value.valid_from)}")]
    if value.valid_until is not None and now >= value.valid_until:
        return [Finding("expired", f"{where} proves: valid until {_time(value.valid_until)}")]
    return []
