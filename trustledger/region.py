"""Composition root: a region opened from settings with the services the HTTP API is handed (`Region`), and creating
one (`init_region`).

The core (settings, keystore, store, log, recorder, registries) is `trustledger.region_core.RegionCore`, on which the
wiring modules (`trustledger.sealing`, `trustledger.anchoring`, ...) build; `Region` adds what `verify_api` calls
(`verify_api.services.RegionServices`), each method delegating to those modules, so the API never imports them.
"""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from anchors.crossregion import CrossRegionResult, CrossRegionVerifier
from anchors.store import AnchorStore
from anchors.store_crossregion import CrossRegionStore
from anchors.uses import UseRequest
from anchors.witness import Witness
from clock import Clock
from ledger.store_replica import ReplicaReads
from licences.catalogue import catalogue_documents
from licences.matters import Matter
from trustledger import anchoring, crossregion, remind, replica, seal_checks, sealing, trust, verification
from trustledger.crossregion_matters import LookupRequest, ask_peers
from trustledger.matters import publish_matters
from trustledger.migrations import upgrade
from trustledger.region_core import (
    CRL_PATH,
    DEMO_REGION,
    RegionConfig,
    RegionCore,
    RegionError,
    init_identity,
    load_config,
    region_clock,
)
from trustledger.settings import Settings
from trustledger.status import backfill_status_map
from trustlists.store import TrustListRow, TrustListStore
from verification import LedgerSources
from verification.pdf import PdfCheck

__all__ = [
    "CRL_PATH",
    "DEMO_REGION",
    "Region",
    "RegionConfig",
    "RegionError",
    "init_region",
    "load_config",
    "open_region",
    "region_clock",
    "region_now",
]


class Region(RegionCore):
    """One region's ledger, opened from settings, with the services the HTTP API is handed."""

    @cached_property
    def reads(self) -> ReplicaReads:
        """Where the log's reads run: the read replica when it can answer as the primary would (ADR 0015)."""
        return replica.replica_reads(self.settings, self.log)

    def close(self) -> None:
        """Release database connections, the read replica's too."""
        if "reads" in self.__dict__:  # opened only if a read asked for it
            self.reads.close()
        super().close()

    def ledger_sources(self) -> LedgerSources:
        """What the online token check reads (`trustledger.verification.ledger_sources`)."""
        return verification.ledger_sources(self)

    async def check_pdf(self, data: bytes) -> PdfCheck:
        """The online check of a sealed licence PDF (`trustledger.seal_checks.async_check_sealed_pdf`)."""
        return await seal_checks.async_check_sealed_pdf(self, data)

    async def seal_licence_pdf(self, licence_id: UUID) -> sealing.SealedPdf:
        """A freshly sealed PDF of the licence, recorded on the ledger (`trustledger.sealing`)."""
        return await sealing.async_seal_licence_pdf(self, licence_id)

    def current_trust_list(self) -> TrustListRow:
        """The current signed trust list, publishing a new version first if one is due."""
        return trust.current_trust_list(self)

    def trust_list_version(self, version: int) -> TrustListRow | None:
        """A published version of the trust list, or None."""
        return TrustListStore(self.store.engine).get(version)

    def root_key_text(self) -> str | None:
        """The trust-list root public key as peers pin it, or None if it is not Ed25519."""
        root = self.keys.load("root")
        return verification.root_key_text(root.public_key()) if isinstance(root, Ed25519PrivateKey) else None

    def anchor_store(self) -> AnchorStore:
        """The anchors tables of the region database."""
        return anchoring.anchor_store(self)

    def witness(self) -> Witness:
        """The region acting as a C2SP tlog-witness for its peers' logs."""
        return anchoring.region_witness(self)

    def cross_region_store(self) -> CrossRegionStore:
        """The acceptance rules and proven peer leaves of the region database."""
        return crossregion.cross_region_store(self)

    def cross_region_verifier(self) -> CrossRegionVerifier:
        """The region's verifier of peer licences over a new kept-alive HTTP client (keep one per process)."""
        return crossregion.cross_region_verifier(self, crossregion.verify_http_client())

    def record_cross_region_use(self, result: CrossRegionResult, use: UseRequest) -> dict[str, Any]:
        """Record the use of a peer's licence on this ledger; the verdict document with where the use went."""
        return crossregion.result_json(result, crossregion.record_use(self, result, use))

    def ask_matter_peers(
        self, matter: Matter, holder_id: str, consent: str, purpose: str, idempotency_key: str | None
    ) -> list[dict[str, Any]]:
        """The peers' checked answers to a licence-free lookup (`trustledger.crossregion_matters`)."""
        request = LookupRequest(holder_id, consent, purpose, idempotency_key)
        return [p.answer_json() for p in ask_peers(self, matter, request)]

    def reminder_collector(self) -> remind.ReminderCollector:
        """The Prometheus view of the expiry reminders."""
        return remind.ReminderCollector(self)


def region_now(settings: Settings) -> datetime:
    """Now on the clock a region opened from `settings` would live on (for commands that open no region).

    Defined here, beside `open_region`, so all three read `region_clock` from this module (tests replace it here).
    """
    return region_clock(settings)()


def init_region(
    settings: Settings, code: str | None, name: str | None, origin: str | None, clock: Clock | None = None
) -> Region:
    """Create keys, schema and first checkpoint (idempotent; an existing region keeps its identity).

    Everything is registered on `clock` (default: `region_clock(settings)`), the clock the region is then opened on.
    """
    wanted = init_identity(settings, code, name, origin)
    region = Region(settings, wanted, region_clock(settings) if clock is None else clock)
    upgrade(region.store.engine)
    departments, types = catalogue_documents()
    region.registry.publish_catalogue(departments, [doc for _, doc in types])
    publish_matters(region)  # the matter catalogue (事项目录) refers to the licence types just published
    region.registry.ensure_token_keys()
    region.ensure_seal_pki()
    backfill_status_map(region.store, region.log.status_map, region.recording)
    region.sign_checkpoint()
    if not region.log.commits_to_status_map():  # a region older than the map: commit to it now
        region.log.sign_checkpoint(region.log_signer, region.clock(), force=True)
    return region


def open_region(settings: Settings, clock: Clock | None = None) -> Region:
    """Open an initialised region, or raise RegionError telling the operator to run `init`.

    The region lives on `clock` as given, or else on `region_clock(settings)`.
    """
    config = load_config(settings)
    if config is None:
        raise RegionError(f"no region in {settings.home}: run `trustledger init` first")
    return Region(settings, config, region_clock(settings) if clock is None else clock)
