"""What the HTTP adapter is handed: `RegionServices`, the region as the routes use it (docs/style.md, layering).

`trustledger` is the composition root: it opens the region from settings and passes it in (`trustledger.region.Region`
is the one implementation; mypy checks it against these protocols where `serve` hands it to `create_app`). Everything
here is typed with the packages below `verify_api`, so the API never imports `trustledger`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client.registry import Collector

from anchors.crossregion import CrossRegionResult, CrossRegionVerifier
from anchors.store import AnchorStore
from anchors.store_crossregion import CrossRegionStore
from anchors.uses import UseRequest
from anchors.witness import Witness
from clock import Clock
from ledger.log import Log
from ledger.store import LedgerStore
from ledger.store_replica import ReplicaReads
from licences.application import LicenceService
from licences.catalogue import Catalogue
from licences.matters import Matter
from licences.registry import RegistryService
from licences.values import LicenceId
from signatures.note import NoteSigner
from verification import LedgerSources
from verification.pdf import PdfCheck
from verify_api.metrics import WorkerStats


class Worker(WorkerStats, Protocol):
    """A background loop the app starts with its lifespan and stops on shutdown."""

    def start(self) -> None:
        """Start the loop (idempotent)."""
        ...

    def stop(self) -> None:
        """Stop the loop (idempotent)."""
        ...


class RegionIdentity(Protocol):
    """Who the region is: administrative code, name and the origin line of its checkpoints."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def origin(self) -> str: ...


class ApiSettings(Protocol):
    """The settings the API reads itself."""

    @property
    def public_rate_limit(self) -> int:
        """Public requests per minute per address; 0 = off."""
        ...

    @property
    def trust_list_cache_seconds(self) -> float:
        """How long this process reuses the current trust list."""
        ...


class PublishedTrustList(Protocol):
    """One published version of the signed trust list, byte for byte as served."""

    @property
    def version(self) -> int: ...

    @property
    def payload_sha256(self) -> str: ...

    @property
    def issued_at(self) -> datetime: ...

    @property
    def next_update(self) -> datetime: ...

    @property
    def document(self) -> str: ...


class SealedDocument(Protocol):
    """A freshly sealed licence PDF and where its SHA-256 was recorded."""

    @property
    def pdf(self) -> bytes: ...

    @property
    def sha256(self) -> str: ...

    @property
    def leaf_index(self) -> int: ...


class RegionServices(Protocol):
    """One opened region as the routes, the middleware and the app's lifespan use it."""

    @property
    def clock(self) -> Clock: ...

    @property
    def config(self) -> RegionIdentity: ...

    @property
    def settings(self) -> ApiSettings: ...

    @property
    def store(self) -> LedgerStore: ...

    @property
    def log(self) -> Log: ...

    @property
    def reads(self) -> ReplicaReads:
        """Where the log's reads run: the read replica when it can answer as the primary would (ADR 0015)."""
        ...

    @property
    def licences(self) -> LicenceService: ...

    @property
    def registry(self) -> RegistryService: ...

    @property
    def catalogue(self) -> Catalogue: ...

    @property
    def public_base_url(self) -> str: ...

    @property
    def log_signer(self) -> NoteSigner: ...

    def sign_checkpoint(self) -> str:
        """The latest checkpoint note, signing a new one if the tree grew."""
        ...

    def checkpoint_worker(self) -> Worker:
        """The checkpoint signer every app runs (not started)."""
        ...

    def close(self) -> None:
        """Release database connections."""
        ...

    def ledger_sources(self) -> LedgerSources:
        """What the online token check reads."""
        ...

    async def check_pdf(self, data: bytes) -> PdfCheck:
        """The online check of a sealed licence PDF against the region."""
        ...

    async def seal_licence_pdf(self, licence_id: LicenceId) -> SealedDocument:
        """Seal the licence's current version (PAdES B-LTA) and record the PDF's SHA-256 on the ledger."""
        ...

    def current_trust_list(self) -> PublishedTrustList:
        """The current signed trust list, publishing a new version first if one is due."""
        ...

    def trust_list_version(self, version: int) -> PublishedTrustList | None:
        """A published version of the trust list, or None."""
        ...

    def root_key_text(self) -> str | None:
        """The trust-list root public key as peers pin it, or None if it is not Ed25519."""
        ...

    def anchor_store(self) -> AnchorStore:
        """The anchors tables: peers, checkpoints, timestamps, cosignatures, alarms."""
        ...

    def witness(self) -> Witness:
        """The region as a C2SP tlog-witness (decrypts its key: build once per app)."""
        ...

    def cross_region_store(self) -> CrossRegionStore:
        """The acceptance rules and proven peer leaves."""
        ...

    def cross_region_verifier(self) -> CrossRegionVerifier:
        """A verifier of peers' licences with its own HTTP client (keep one per app: it caches)."""
        ...

    def record_cross_region_use(self, result: CrossRegionResult, use: UseRequest) -> dict[str, Any]:
        """Record the use of a peer's licence on this region's ledger; the answer document with where it went."""
        ...

    def ask_matter_peers(
        self, matter: Matter, holder_id: str, consent: str, purpose: str, idempotency_key: str | None
    ) -> list[dict[str, Any]]:
        """A licence-free lookup asked of the peer regions that accept the matter's types, each answer checked
        against the peer's log and status map (docs/matters.md); one `PeerMatterOut` document per peer asked."""
        ...

    def reminder_collector(self) -> Collector:
        """The Prometheus view of the expiry reminders (due, sent, failed, dead-lettered)."""
        ...


S = TypeVar("S", bound=RegionServices)


@dataclass(frozen=True)
class OwnedRegion(Generic[S]):
    """A region the app opens when it starts and closes when it stops (`serve`): the clock it will live on, and how
    to open it (the composition root knows how)."""

    clock: Clock
    open: Callable[[], S]
