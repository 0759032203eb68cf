"""The region's trust list publisher wired from an opened region (DESIGN §6): its registry, config, log key, seal
certificates, root key, clock, configured period and database. Publishing itself lives in `trustlists`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from seals.errors import SealRegistryError
from signatures.cose import Ed25519Signer
from trustledger.region_core import RegionCore, RegionError
from trustledger.sealing import seal_ca_pem, seal_certificates_pem
from trustlists.publisher import TrustInputs, TrustListPublisher, trusted_issuers
from trustlists.store import TrustListRow, TrustListStore


def _seal_sources(region: RegionCore) -> tuple[str | None, Callable[[str], list[str]]]:
    """The region seal CA PEM (None before the seal PKI exists) and the per-issuer seal certificate PEMs."""
    try:
        ca: str | None = seal_ca_pem(region) or None
    except SealRegistryError:  # no seal CA yet: the trust list simply lists none
        ca = None
    return ca, lambda uscc: list(seal_certificates_pem(region, uscc))


def region_trust_inputs(region: RegionCore) -> TrustInputs:
    """The trust list contents of an opened region: its registry, config, log key and seal certificates (if any)."""
    ca, seal_certificates = _seal_sources(region)
    return TrustInputs(
        region_code=region.config.code,
        region_name=region.config.name,
        log_origin=region.config.origin,
        log_verifier_key=region.log_signer.verifier.to_string(),
        issuers=trusted_issuers(region.registry, seal_certificates),
        seal_ca_certificates=() if ca is None else (ca,),
    )


def root_signer(region: RegionCore) -> Ed25519Signer:
    """The region root key as the trust list signer (Ed25519 only, DESIGN §6)."""
    key = region.keys.load("root")
    if not isinstance(key, Ed25519PrivateKey):
        raise RegionError("the region root key must be Ed25519")
    return Ed25519Signer(key)


def trust_list_period(region: RegionCore) -> timedelta:
    """How long a published version stays fresh (`TRUSTLEDGER_TRUST_LIST_PERIOD_HOURS`, default 24 h)."""
    return timedelta(hours=region.settings.trust_list_period_hours)


def publisher_for(region: RegionCore) -> TrustListPublisher:
    """The publisher of an opened region (its database, root key, clock and configured period)."""
    return TrustListPublisher(
        TrustListStore(region.store.engine), root_signer(region), region.clock, trust_list_period(region)
    )


def current_trust_list(region: RegionCore) -> TrustListRow:
    """The region's current signed trust list, publishing a new version first if one is due."""
    return publisher_for(region).current(region_trust_inputs(region))
