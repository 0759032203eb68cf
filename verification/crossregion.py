"""Cross-region verdicts in the one vocabulary (DESIGN §9, ADR 0005 phase 2).

A peer region's licence is checked by `anchors.crossregion.CrossRegionVerifier`, whose bottom line (`CrossVerdict`:
valid, valid_unconfirmed, unconfirmed, invalid, refused) is what `/v1/federation/verify` and `trustledger peers
verify` answer. Its findings already carry this core's reason codes (`status.CODES`); `cross_region_status` reads a
result as a `TokenStatus` (with the peer's status-map entry it rests on as `proven`), so that a proven "revoked" is
the verdict `revoked`, an unknown peer `other_region`, an unconfirmed status `unknown`. The other way round,
`cross_verdict_of` is the federation answer for one of our own tokens (`POST /v1/federation/verify` with a local
token).
"""

from __future__ import annotations

from anchors.crossregion import CrossRegionResult, CrossVerdict
from verification.status import Reason, TokenStatus


def cross_region_status(result: CrossRegionResult) -> TokenStatus:
    """A peer's licence verdict as a token status: the same reasons, the verdict by `status.CODES`; its bottom line
    is the cross-region one (valid only when `result.valid`)."""
    trusted = result.trusted
    reasons = tuple(Reason(f.code, f.detail) for f in result.reasons)
    if not result.valid and not reasons:  # fail closed: a refusal without a finding is still a refusal
        reasons = (Reason(result.verdict.value, f"cross-region verdict {result.verdict.value}"),)
    return TokenStatus(
        "cross-region",
        result.checked_at,
        reasons,
        claims=None if trusted is None else trusted.claims,
        token=b"" if trusted is None else trusted.token,
        issuer_name=None if trusted is None else trusted.issuer.name,
        trust_list=result.trust_list,
        proven=result.proven,
    )


def cross_verdict_of(status: TokenStatus) -> CrossVerdict:
    """The federation answer for one of our own tokens: valid, or invalid (our ledger answered: nothing is
    unconfirmed, and a token of our log is never another region's)."""
    return CrossVerdict.VALID if status.bottom_line else CrossVerdict.INVALID
