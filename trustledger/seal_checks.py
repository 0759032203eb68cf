"""The sealed-PDF check (`verification.pdf`) wired to an opened region: its seal registry, licences and clock.

The check itself lives in the verification core; `trustledger verify FILE.pdf` (cli_seals) and `POST /v1/verify/pdf`
call these and present its `PdfCheck`. A peer's sealed PDF (seal CA from the peer's verified trust list) goes to
`verification.peer_pdf`: here for the CLI, in `verify_api.verify_routes` for the API (its one kept verifier).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signatures.trustlist import TrustList
from trustledger.anchoring import anchor_store
from trustledger.crossregion import cross_region_verifier, verify_http_client
from trustledger.sealing import seal_registry
from verification.pdf import (
    CHECKS,
    Check,
    PdfCheck,
    PdfSources,
    async_check_pdf_online,
    check_pdf_offline,
    check_pdf_online,
)
from verification.peer_pdf import check_pdf_from_peer, peer_of_seal

if TYPE_CHECKING:
    from trustledger.region_core import RegionCore

__all__ = ["CHECKS", "Check", "PdfCheck", "async_check_sealed_pdf", "check_sealed_pdf", "check_sealed_pdf_offline"]
check_sealed_pdf_offline = check_pdf_offline  # no region: the trust list alone


def pdf_sources(region: RegionCore) -> PdfSources:
    """What the online PDF check reads, from an opened region."""
    return PdfSources(seals=seal_registry(region), licences=region.licences, clock=region.clock)


def check_sealed_pdf(region: RegionCore, data: bytes, *, trust_list: TrustList | None = None) -> PdfCheck:
    """`verification.pdf.check_pdf_online` against the region; a PDF sealed under a seal CA of a peer's verified
    trust list (and no trust list file given) is checked through federation (`verification.peer_pdf`)."""
    if trust_list is None:
        origin = peer_of_seal(data, anchor_store(region).peers())
        if origin is not None:
            with verify_http_client() as http:
                verifier = cross_region_verifier(region, http)
                try:
                    return check_pdf_from_peer(data, origin, verifier)
                finally:
                    verifier.close()
    return check_pdf_online(data, pdf_sources(region), trust_list=trust_list)


async def async_check_sealed_pdf(region: RegionCore, data: bytes, *, trust_list: TrustList | None = None) -> PdfCheck:
    """`verification.pdf.async_check_pdf_online` against the region (the API's event loop)."""
    return await async_check_pdf_online(data, pdf_sources(region), trust_list=trust_list)
