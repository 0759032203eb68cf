"""A peer region's licence token or sealed PDF, answered by `POST /v1/verify/token` and `POST /v1/verify/pdf` in the
shape of a local one (`TokenCheckOut`, `PdfCheckOut`), with `source` naming the peer; and the public answer to "where
is the `DocumentSealed` of this PDF" that peers ask when they check our sealed PDFs.

The verdicts come from the verification core (`anchors.crossregion.CrossRegionVerifier`, read as a token status by
`verification.crossregion.cross_region_status`; `verification.peer_pdf`): this module only presents them.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from anchors.crossregion import CrossRegionResult
from anchors.sealed_documents import SealedDocumentRef
from clock import iso_utc
from licences.errors import LicenceNotFoundError
from licences.identifiers import parse_identifier
from verification.crossregion import cross_region_status
from verification.status import TokenStatus
from verify_api.federation_schemas import FindingOut
from verify_api.schemas import CheckpointOut, InclusionProofOut, SourceOut, StatusProvenOut, TokenCheckOut
from verify_api.services import RegionServices


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def local_source(status: TokenStatus) -> SourceOut:
    """`source` of a verdict on one of our own tokens: local, with every reason."""
    return SourceOut(reasons=[FindingOut(code=r.code, detail=r.detail) for r in status.reasons])


def _status_proven(result: CrossRegionResult) -> StatusProvenOut | None:
    proven = result.proven
    if proven is None:
        return None
    url = None
    if result.peer_url is not None:
        url = f"{result.peer_url}/v1/status/proof?{urlencode({'identifier': proven.identifier, 'size': proven.size})}"
    return StatusProvenOut(
        checkpoint_size=proven.size,
        map_root=_b64(proven.map_root),
        identifier=proven.identifier,
        value=None if proven.value is None else proven.value.to_canonical(),
        proof_url=url,
    )


def peer_token_out(result: CrossRegionResult) -> TokenCheckOut:
    """A peer's token verdict in the local answer's shape: the verdict in the one vocabulary, the minting leaf's
    inclusion under the peer's checkpoint this region verified (`checkpoint.signed_at` is when we verified it, and
    `verifier_key` the log key of the peer's trust list), the status as the peer's map proves it. No licence view:
    the peer discloses no fields, and the claims are shown only for an authentic token (`token_version`,
    `leaf_index`)."""
    status = cross_region_status(result)
    claims, inclusion, trust_list = status.claims, result.inclusion, result.trust_list
    proof = checkpoint = None
    if inclusion is not None and trust_list is not None:
        cp = inclusion.checkpoint
        proof = InclusionProofOut(
            leaf_index=inclusion.leaf_index, tree_size=cp.size, hashes=[_b64(h) for h in inclusion.proof]
        )
        checkpoint = CheckpointOut(
            tree_size=cp.size,
            root_hash=_b64(cp.root_hash),
            note=cp.note,
            signed_at=iso_utc(cp.seen_at),
            verifier_key=trust_list.log_verifier_key,
        )
    return TokenCheckOut(
        verdict=status.verdict.value,
        valid=result.valid,
        reason=status.reason,
        reason_code=status.reason_code,
        token_version=None if claims is None else claims.version,
        licence=None,
        leaf_index=None if claims is None else claims.leaf_index,
        status_proven=_status_proven(result),
        inclusion_proof=proof,
        checkpoint=checkpoint,
        source=SourceOut(
            region=result.origin,
            peer_url=result.peer_url,
            cross_region_verdict=result.verdict.value,
            reasons=[FindingOut(code=f.code, detail=f.detail) for f in result.reasons],
        ),
    )


def sealed_document_ref(region: RegionServices, identifier: str, pdf_sha256: str) -> SealedDocumentRef | None:
    """The `DocumentSealed` of a PDF of licence `identifier` on our log: its leaf and stored event bytes, or None
    (an unknown licence and an unknown hash answer alike). `InvalidFieldError` (422) for what is no identifier."""
    parse_identifier(identifier, strict=False, field="identifier")
    try:
        entries = region.licences.history(region.licences.resolve(identifier))
    except LicenceNotFoundError:
        return None
    index = next(
        (e.leaf_index for e in entries if e.kind == "sealed" and e.event.get("pdf_sha256") == pdf_sha256), None
    )
    if index is None:
        return None
    with region.store.read() as conn:
        rows = region.store.event_rows(conn, index, 1)
    return SealedDocumentRef(index, rows[0][4]) if rows else None
