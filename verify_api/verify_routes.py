"""Approval systems (审批系统): verify a licence for a matter and record the use; check a token or a sealed PDF.

`POST /v1/licences/{id}/verify` is the paper-free path (免提交): the answer carries the status, the fields the system
may see, and the inclusion proof of the licence's current version under a signed checkpoint; the use (accepted or
refused) is recorded on the ledger. The token and PDF checks record nothing. They take any recognised region's
token or sealed PDF: a token whose `rg` is a peer's log, or a PDF sealed under a peer's trust-listed seal CA, is
checked through federation and answered in the same shape, `source` naming the peer (the verify-and-use door for
any region's token is `POST /v1/federation/verify`, routed by `rg` the same way).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from anchors.sealed_documents import sealed_document_json
from ledger.ids import LeafIndex
from licences.errors import InvalidFieldError
from signatures.cose import decode_token
from verification import prove_current
from verification.pdf import PdfCheck
from verification.peer_pdf import async_check_pdf_from_peer, peer_of_seal
from verify_api import problems as p
from verify_api.anchor_routes import _cross_verifier
from verify_api.auth import CheckerKey, VerifierKey
from verify_api.deps import EvidenceDep, IdempotencyKey, RegionDep
from verify_api.evidence import Evidence
from verify_api.federation_schemas import FindingOut
from verify_api.licence_routes import LicenceRef
from verify_api.peer_verdicts import local_source, peer_token_out, sealed_document_ref
from verify_api.problems import INVALID_FIELD, UNSUPPORTED_MEDIA, ProblemError
from verify_api.schemas import (
    AUTH,
    BODY,
    BUSY,
    QUERY,
    PdfCheckItem,
    PdfCheckOut,
    SealOut,
    SourceOut,
    TokenCheckOut,
    TokenIn,
    UseOut,
    VerifyIn,
    VerifyOut,
    problem_responses,
)
from verify_api.status_routes import status_proven_out
from verify_api.tokens import TokenStatus, check_token, parse_token
from verify_api.views import disclosed

router = APIRouter(tags=["verification"])


def _claimed_digest(region: RegionDep, body: VerifyIn) -> bytes | None:
    """The holder digest the use is checked against: given, or computed from the applicant's number."""
    claimed = None if body.holder_digest is None else bytes.fromhex(body.holder_digest)
    if body.holder_id is None:
        return claimed
    try:
        computed = bytes.fromhex(region.licences.holder_digest_of(body.holder_id))
    except InvalidFieldError as exc:
        raise ProblemError(INVALID_FIELD, f"invalid holder_id: {exc.reason}", field="holder_id") from exc
    if claimed is not None and claimed != computed:
        raise ProblemError(INVALID_FIELD, "holder_id and holder_digest name different holders", field="holder_id")
    return computed


@router.post(
    "/v1/licences/{licence_id}/verify",
    response_model=VerifyOut,
    operation_id="verifyLicence",
    responses=problem_responses(
        *AUTH, *BODY, *BUSY, p.LICENCE_NOT_FOUND, p.IDEMPOTENCY_CONFLICT, p.CONCURRENT_UPDATE, p.STATUS_UNPROVEN
    ),
)
def verify_licence(
    licence_id: LicenceRef,
    body: VerifyIn,
    principal: VerifierKey,
    region: RegionDep,
    evidence: EvidenceDep,
    idempotency_key: IdempotencyKey = None,
) -> VerifyOut:
    """Verify a licence for a matter with the holder's consent and record the use (refused uses too)."""
    licences = region.licences
    claimed = _claimed_digest(region, body)
    with region.store.write():  # one unit of work: find the licence, decide and record the use in one transaction
        result = licences.use(
            licences.resolve(licence_id),
            verifier=principal.principal,
            matter_code=body.matter_code,
            purpose=body.purpose,
            consent=body.consent,
            claimed_holder_digest=claimed,
            idempotency_key=idempotency_key,
        )
    view = result.licence
    proven = prove_current(view, region.ledger_sources())  # the status answered is the one the signed map holds
    # One checkpoint for both proofs: it covers the use's leaf (and the minting leaf, which a replayed request's use
    # may precede), so the approval system keeps proof that its use, accepted or refused, was logged.
    use_leaf = LeafIndex(result.leaf_index)
    cp = evidence.covering(max(view.minted_leaf, use_leaf))
    proof, use_proof = evidence.inclusion(view.minted_leaf, cp), evidence.inclusion(use_leaf, cp)
    assert proof is not None and use_proof is not None  # `covering` guarantees the checkpoint includes both leaves
    outcome: Literal["accepted", "refused"] = "accepted" if result.outcome == "accepted" else "refused"
    use_id = str(result.invocation_id)
    return VerifyOut(
        outcome=outcome,
        valid=outcome == "accepted",
        refusal_reason=result.refusal_reason,
        status=view.status.value,
        licence=disclosed(view, with_fields=outcome == "accepted"),
        leaf_index=view.minted_leaf,
        inclusion_proof=proof,
        checkpoint=evidence.checkpoint_out(cp),
        use=UseOut(
            invocation_id=use_id, use_id=use_id, leaf_index=use_leaf, outcome=outcome, inclusion_proof=use_proof
        ),
        status_proven=status_proven_out(region, proven),
    )


def token_check_out(status: TokenStatus, evidence: Evidence) -> TokenCheckOut:
    """The core's token status as approval systems and auditors get it, with the proof of the minting leaf; the
    token's version and the licence only for an authentic token, its fields only when it is valid."""
    proof = checkpoint = None
    claims, view = status.claims, status.licence
    authentic = status.authentic and claims is not None and view is not None
    if authentic and claims is not None:
        cp = evidence.covering(claims.leaf_index)
        proof = evidence.inclusion(LeafIndex(claims.leaf_index), cp)  # checked by the token's verifier
        checkpoint = evidence.checkpoint_out(cp)
    return TokenCheckOut(
        verdict=status.verdict.value,
        valid=status.bottom_line,
        reason=status.reason,
        reason_code=status.reason_code,
        token_version=claims.version if authentic and claims else None,
        licence=disclosed(view, with_fields=status.bottom_line) if authentic and view else None,
        leaf_index=claims.leaf_index if authentic and claims else None,
        inclusion_proof=proof,
        checkpoint=checkpoint,
        status_proven=status_proven_out(evidence.region, status.proven),
        source=local_source(status),
    )


@router.post(
    "/v1/verify/token",
    response_model=TokenCheckOut,
    operation_id="checkToken",
    responses=problem_responses(*AUTH, *BODY, *BUSY, p.MALFORMED_TOKEN, p.STATUS_UNPROVEN),
)
def verify_token(
    request: Request, body: TokenIn, _: CheckerKey, region: RegionDep, evidence: EvidenceDep
) -> TokenCheckOut:
    """Check a QR token (URL or bare) of any recognised region: authentic, on its region's log, and the licence's
    status now (a peer's through federation, `source` naming it). Records no use."""
    data = parse_token(body.token)
    origin = decode_token(data)[1].log_origin
    if origin != region.config.origin and region.anchor_store().peer(origin) is not None:
        return peer_token_out(_cross_verifier(request).verify(data))
    return token_check_out(check_token(region, data), evidence)


@router.post(
    "/v1/verify/pdf",
    response_model=PdfCheckOut,
    operation_id="checkPdf",
    responses=problem_responses(*AUTH, *BUSY, p.PAYLOAD_TOO_LARGE, p.UNSUPPORTED_MEDIA, p.STATUS_UNPROVEN),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def verify_pdf(request: Request, _: CheckerKey, region: RegionDep) -> PdfCheckOut:
    """Check an uploaded sealed licence PDF (raw `application/pdf` body, at most 10 MiB): the seal, the seal PKI,
    its SHA-256 on the ledger and the licence's status now — ours, or a peer's when a seal CA of the peer's verified
    trust list issued the seal (`source` names it). Nothing in the file is fetched from."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/pdf":
        raise ProblemError(UNSUPPORTED_MEDIA, "send the PDF as the raw body with Content-Type: application/pdf")
    data = await request.body()
    origin = await asyncio.to_thread(lambda: peer_of_seal(data, region.anchor_store().peers()))
    if origin is not None:
        return pdf_check_out(await async_check_pdf_from_peer(data, origin, _cross_verifier(request)))
    return pdf_check_out(await region.check_pdf(data))


def pdf_check_out(check: PdfCheck) -> PdfCheckOut:
    """The API form of a PDF check; the licence's fields only when the whole check passed."""
    seal = check.seal
    return PdfCheckOut(
        verdict="valid" if check.valid else "invalid",
        valid=check.valid,
        reason=check.reason,
        sha256=check.sha256,
        checks={c.name: PdfCheckItem(ok=c.ok, code=c.code, detail=c.detail) for c in check.checks},
        seal=None
        if seal is None
        else SealOut(
            signer=seal.signer,
            signing_time=seal.signing_time,
            certificate_serial=None if seal.signer_serial is None else format(seal.signer_serial, "x"),
        ),
        identifier=check.identifier,
        licence=None if check.licence is None else disclosed(check.licence, with_fields=check.valid),
        sealed_version=check.sealed_version,
        source=SourceOut(
            region=check.source["region"],
            reasons=[FindingOut(code=r.code, detail=r.detail) for r in check.reasons],
        ),
    )


@router.get(
    "/v1/sealed-documents/{pdf_sha256}",
    tags=["public"],
    operation_id="getSealedDocument",
    responses=problem_responses(*QUERY, *BUSY, p.INVALID_FIELD),
)
def sealed_document(
    region: RegionDep,
    pdf_sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the whole PDF, hex")],
    identifier: Annotated[str, Query(min_length=1, max_length=256, description="the licence identifier it names")],
) -> JSONResponse:
    """Where the `DocumentSealed` of a sealed PDF is on this log: `{identifier, pdf_sha256, leaf_index, state}` with
    the event's stored bytes (base64; the leaf's `payload_sha256` commits to them), or nulls. Peers ask it to prove
    our sealed PDFs themselves; a PDF's hash cannot be guessed, so it discloses nothing to whoever lacks the PDF."""
    found = sealed_document_ref(region, identifier, pdf_sha256)
    return JSONResponse(sealed_document_json(identifier, pdf_sha256, found))
