"""`trustledger verify` for any recognised region: a token whose `rg` is a peer's log is checked through federation
(`anchors.crossregion.CrossRegionVerifier`, as `trustledger peers verify` does, recording no use) and printed in
the local report's shape, `source` naming the peer. Sealed PDFs are routed in `trustledger.seal_checks`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from signatures.cose import decode_token, parse_token_text
from signatures.errors import MalformedError
from trustledger.anchoring import anchor_store
from trustledger.crossregion import cross_region_verifier, source_json, verify_http_client
from trustledger.verification import VerifyReport
from verification.crossregion import cross_region_status

if TYPE_CHECKING:
    from trustledger.region_core import RegionCore


def peer_token(region: RegionCore, target: str) -> bytes | None:
    """The token bytes when `target` is a token (or QR URL) of a peer region this region federates with; None for
    ours, for a region that is not a peer (the local check names it `other_log`) and for what is no token."""
    try:
        data = parse_token_text(target)
        origin = decode_token(data)[1].log_origin
    except MalformedError:
        return None
    if origin == region.config.origin or anchor_store(region).peer(origin) is None:
        return None
    return data


def verify_peer_token(region: RegionCore, token: bytes) -> VerifyReport:
    """A peer's token through federation, as the local report (`--json` keys alike; `source` names the peer)."""
    with verify_http_client() as http:
        verifier = cross_region_verifier(region, http)
        try:
            result = verifier.verify(token)
        finally:
            verifier.close()
    return VerifyReport(cross_region_status(result), source=source_json(result))
