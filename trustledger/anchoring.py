"""Wiring of anchors for one region (DESIGN §9): the witness, the peer registry and sync, RFC 3161 anchoring with the
region TSA (the one that time-stamps sealed PDFs, ADR 0007), and the background worker `serve` runs (ADR 0005).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchors.anchoring import anchor_checkpoint, verify_anchor
from anchors.collector import WitnessEndpoint, collect_cosignatures
from anchors.cosignature import CosignatureSigner, parse_cosigner_key
from anchors.errors import AnchorError, SizeConflictError, TimestampUnavailableError, WitnessRefusal
from anchors.federation import Federation
from anchors.model import CollectedCosignature, PeerRecord, TimestampAnchor
from anchors.peers import DEFAULT_TIMEOUT, HttpPeerSource
from anchors.store import AnchorStore
from anchors.witness import Witness
from seals.errors import SealError, SealRegistryError
from seals.timestamps import LocalTimestamper, verify_timestamp_token
from seals.tsa import TimeStampAuthority
from signatures.errors import SignatureError
from signatures.note import parse_checkpoint, split_note
from trustledger.periodic import PeriodicWorker
from trustledger.region_core import RegionCore, RegionError
from trustledger.sealing import seal_registry, time_stamp_authority

WITNESS_KEY = "witness"
ANCHOR_INTERVAL = 30.0  # seconds between anchoring rounds inside `serve`
SYNC_EVERY = 10  # peer sync once every this many rounds
_log = logging.getLogger("trustledger.anchoring")


def anchor_store(region: RegionCore) -> AnchorStore:
    """The anchors tables of the region database."""
    return AnchorStore(region.store.engine)


def witness_name(region: RegionCore) -> str:
    """The region's cosigner name: `<host of the log origin>/witness`."""
    return region.config.origin.split("/", 1)[0] + "/witness"


def witness_signer(region: RegionCore) -> CosignatureSigner:
    """The region's witness key (created on first use; never the log key)."""
    key = region.keys.get_or_create(WITNESS_KEY, "ed25519")
    if not isinstance(key, Ed25519PrivateKey):
        raise RegionError("the witness key must be Ed25519")
    return CosignatureSigner(witness_name(region), key)


def region_witness(region: RegionCore) -> Witness:
    """The region acting as a C2SP tlog-witness for its peers' logs."""
    return Witness(anchor_store(region), witness_signer(region), region.clock)


def http_client() -> httpx.Client:
    """An HTTP client for peers and witnesses: timeouts, no redirects, no proxies from the environment."""
    return httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False, trust_env=False)


def region_federation(region: RegionCore, http: httpx.Client) -> Federation:
    """The peer registry and sync of the region, reading peers over `http`."""
    return Federation(anchor_store(region), region.clock, lambda peer: HttpPeerSource(peer.base_url, http))


# -- timestamping ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegionTimestamping:
    """The region TSA as the anchors ports want it: a `Timestamper` and a `TimestampVerifier` with its roots."""

    authority: TimeStampAuthority
    roots: tuple[x509.Certificate, ...]

    def timestamp(self, digest: bytes) -> bytes:
        """A token over `digest` from the region TSA (in process)."""
        try:
            return LocalTimestamper(self.authority).timestamp(digest)
        except SealError as exc:
            raise AnchorError(f"region TSA failed: {exc}") from exc

    def verify(self, token: bytes, digest: bytes) -> datetime:
        """The genTime of a token over `digest` chaining to the region's TSA roots."""
        return verify_timestamp_token(token, digest, self.roots)


def region_timestamping(region: RegionCore) -> RegionTimestamping:
    """The region TSA and its CA (the seals wiring, ADR 0007) as the anchors ports; TimestampUnavailableError before
    `init` certified them."""
    try:
        authority = time_stamp_authority(region)
        ca = seal_registry(region).ca_certificate()
    except SealRegistryError as exc:
        raise TimestampUnavailableError(str(exc)) from exc
    if ca is None:
        raise TimestampUnavailableError("the region has no seal CA yet: run `trustledger init`")
    return RegionTimestamping(authority, (ca,))


# -- what `anchor` and the worker do -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorReport:
    """One anchoring round: the timestamp of the latest checkpoint and the cosignatures collected for it.

    `inconsistent` lists the witnesses that refused our checkpoint as inconsistent with what they cosigned for us
    before (also in `witness_errors`): evidence that our log forked or was rolled back, or that the witness was
    shown another view of it — an alarm, never a routine failure."""

    anchor: TimestampAnchor
    cosignatures: tuple[CollectedCosignature, ...]
    witness_errors: tuple[str, ...]
    inconsistent: tuple[str, ...] = ()


def refused_as_inconsistent(exc: Exception, size: int, log_size: int) -> bool:
    """Whether a witness's refusal says our checkpoint of `size` is inconsistent with what it cosigned for us: 422
    (C2SP tlog-witness: the consistency proof does not verify, problem `witness-inconsistent`); a 409 naming our
    very size after the collector's retry from it (it cosigned another root for this size); a 409 naming a size our
    log (`log_size` leaves) does not reach (it cosigned more than we have: a rollback). A 409 naming a size we have
    (a concurrent round moved it on), 4xx of another kind and unreachable witnesses are routine failures."""
    if isinstance(exc, SizeConflictError):
        return exc.latest_size == size or exc.latest_size > log_size
    return isinstance(exc, WitnessRefusal) and exc.status == 422


def witness_endpoints(peers: list[PeerRecord]) -> list[WitnessEndpoint]:
    """Peers with a witness key, as witnesses to ask (their base URL is the submission prefix)."""
    return [WitnessEndpoint(p.base_url, parse_cosigner_key(p.witness_key)) for p in peers if p.witness_key]


def anchor_latest(region: RegionCore, http: httpx.Client | None = None) -> AnchorReport:
    """Timestamp the latest checkpoint (signing one if the tree grew) and ask the peers' witnesses to cosign it."""
    note = region.sign_checkpoint()
    store = anchor_store(region)
    tsa = region_timestamping(region)
    anchor = anchor_checkpoint(store, note, tsa, tsa, region.clock)
    errors: list[str] = []
    inconsistent: list[str] = []
    endpoints = witness_endpoints(store.peers())
    if not endpoints:
        return AnchorReport(anchor, tuple(store.cosignatures_for(note)), ())
    size = parse_checkpoint(split_note(note)[0]).size

    def on_error(endpoint: WitnessEndpoint, exc: Exception) -> None:
        errors.append(f"{endpoint.url}: {exc}")
        if refused_as_inconsistent(exc, size, region.log.size()):
            inconsistent.append(f"{endpoint.url}: {exc}")
            _log.error(
                "ALARM: witness %s refused our checkpoint %d as inconsistent with what it cosigned before: %s",
                endpoint.url,
                size,
                exc,
            )

    client = http or http_client()
    try:
        collect_cosignatures(store, region.log, note, endpoints, client, on_error=on_error)
    finally:
        if http is None:
            client.close()
    return AnchorReport(anchor, tuple(store.cosignatures_for(note)), tuple(errors), tuple(inconsistent))


def verify_stored_anchor(region: RegionCore, anchor: TimestampAnchor) -> datetime:
    """Re-check a stored anchor's token against the region TSA roots."""
    return verify_anchor(anchor, region_timestamping(region))


class AnchorWorker:
    """Inside `serve`: every `interval` seconds anchor the latest checkpoint; every few rounds sync the peers.

    `tick()` is one round; `periodic` runs it (its first round after one interval) and counts the rounds that crashed,
    while `errors` counts the failures a round expects, logs and survives (a TSA or witness or peer that failed).
    """

    def __init__(self, region: RegionCore, interval: float = ANCHOR_INTERVAL, sync_every: int = SYNC_EVERY) -> None:
        self.region = region
        self.sync_every = sync_every
        self.rounds = 0
        self.errors = 0
        self.periodic = PeriodicWorker("anchor-worker", self.tick, interval, region.clock, run_at_start=False)

    def tick(self) -> None:
        """One round; expected failures are logged and counted, never raised (the next round tries again)."""
        self.rounds += 1
        with http_client() as http:
            try:
                anchor_latest(self.region, http)
            except (AnchorError, SignatureError, SealError, RegionError) as exc:
                self.errors += 1
                _log.warning("anchoring round failed: %s", exc)
            if self.rounds % self.sync_every == 1 or self.sync_every == 1:
                for result in region_federation(self.region, http).sync_all():
                    if isinstance(result, Exception):
                        self.errors += 1
                        _log.warning("peer sync failed: %s", result)

    def start(self) -> None:
        """Start the daemon thread (its first round comes after one interval)."""
        self.periodic.start()

    def stop(self) -> None:
        """Stop the thread."""
        self.periodic.stop()
