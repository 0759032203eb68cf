"""`POST /v1/federation/verify` for this region's own licences: the token checked against our ledger (as
`/v1/verify/token` does) and the use recorded on the licence (as `/v1/licences/{id}/verify` does), answered in the
same shape as a peer's licence so an approval system need not know which region minted what it scanned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from anchors.crossregion import CrossVerdict
from anchors.uses import UseRequest
from clock import iso_utc
from ledger.ids import LeafIndex
from verification.crossregion import cross_verdict_of
from verify_api.evidence import Evidence
from verify_api.federation_schemas import (
    CrossLicenceOut,
    FederationVerifyOut,
    FindingOut,
    InclusionOut,
    PeerStatusOut,
    UseRecordOut,
)
from verify_api.schemas import SourceOut
from verify_api.services import RegionServices
from verify_api.tokens import TokenStatus, Verdict, check_token

# The licence's own state decides these; a use of it is recorded (refused). A superseded, forged or unknown token
# is not a use of any current licence: nothing is recorded for it.
_RECORDED = frozenset({Verdict.VALID, Verdict.NOT_YET_VALID, Verdict.EXPIRED, Verdict.SUSPENDED, Verdict.REVOKED})


def _licence(check: TokenStatus) -> CrossLicenceOut | None:
    if check.claims is None or check.licence is None:
        return None
    c, view = check.claims, check.licence
    until = None if c.expires_at is None else iso_utc(datetime.fromtimestamp(c.expires_at, UTC))
    return CrossLicenceOut(
        identifier=c.subject,
        type_code=c.licence_type,
        issuer=c.issuer,
        issuer_name=view.issuer_name,
        licence_version=c.version,
        valid_from=iso_utc(datetime.fromtimestamp(c.not_before, UTC)),
        valid_until=until,
        leaf_index=c.leaf_index,
    )


def _inclusion(check: TokenStatus, evidence: Evidence) -> InclusionOut | None:
    if check.claims is None or check.licence is None:
        return None
    cp = evidence.covering(check.claims.leaf_index)
    proof = evidence.inclusion(LeafIndex(check.claims.leaf_index), cp)  # checked by the token's verifier
    if proof is None:
        return None
    recorded = None if check.signed_at is None else check.signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return InclusionOut(
        leaf_index=proof.leaf_index,
        tree_size=proof.tree_size,
        hashes=proof.hashes,
        checkpoint=cp.note,
        recorded_at=recorded,
    )


def _is_use(check: TokenStatus) -> bool:
    """Whether the token stands for the licence as it is now (its current version), in whatever state."""
    claims, view = check.claims, check.licence
    if claims is None or view is None:
        return False
    return claims.version == view.licence_version and check.verdict in _RECORDED


def local_verify(region: RegionServices, evidence: Evidence, token: bytes, use: UseRequest) -> FederationVerifyOut:
    """Check one of our own tokens, record the use on the licence, and answer as for a peer's licence."""
    check = check_token(region, token)
    reasons = [] if check.bottom_line else [FindingOut(code=check.reason_code, detail=check.reason)]
    recorded = None
    verdict = cross_verdict_of(check)
    if _is_use(check) and check.licence is not None and check.claims is not None:
        result = region.licences.use(
            check.licence.id,
            verifier=use.verifier,
            matter_code=use.matter_code,
            purpose=use.purpose,
            consent=use.consent,
            claimed_holder_digest=check.claims.holder_digest,
        )
        outcome: Literal["accepted", "refused"] = "accepted" if result.outcome == "accepted" else "refused"
        recorded = UseRecordOut(
            recorded=True, use_id=str(result.invocation_id), leaf_index=result.leaf_index, outcome=outcome
        )
        if verdict is CrossVerdict.VALID and outcome != "accepted":  # the licence changed between check and use
            verdict = CrossVerdict.INVALID
            reasons.append(FindingOut(code=str(result.refusal_reason), detail="the use was refused"))
    status = PeerStatusOut(
        origin=region.config.origin,
        verdict=check.verdict.value,
        reason_code=check.reason_code,
        current_version=None if check.licence is None else check.licence.licence_version,
    )
    return FederationVerifyOut(
        verdict=verdict.value,
        valid=verdict is CrossVerdict.VALID,
        origin=region.config.origin,
        local=True,
        checked_at=iso_utc(region.clock()),
        reasons=reasons,
        licence=_licence(check),
        status=status,
        trust_list=None,
        inclusion=_inclusion(check, evidence),
        acceptance=None,
        use=recorded,
        source=SourceOut(reasons=[FindingOut(code=r.code, detail=r.detail) for r in check.reasons]),
    )
