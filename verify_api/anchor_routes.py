"""Witnessing and federation (DESIGN §9): C2SP tlog-witness add-checkpoint, peers, fork alarms, checkpoint anchors,
and cross-region verification of licences.

`POST /add-checkpoint` speaks the tlog-witness protocol exactly: the cosignature lines as text/plain on success, a
409 with the latest cosigned size as `text/x.tlog.size`, and 400/403/404/422 as RFC 9457 problems. The anchoring
worker (timestamp and witness our checkpoints, sync peers) runs in the app's lifespan under `serve`.

`POST /v1/federation/verify` is the approval systems' one door for a licence of any region (ADR 0005): this region's
own licences are checked against its ledger and the use recorded on the licence; a peer's are checked against the
peer's trust list, its log (inclusion under a checkpoint we verified) and its word on the status, and the use is
recorded on our ledger. `GET /v1/federation/status` is what peers ask us about our own tokens.
"""

from __future__ import annotations

import base64
import threading
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from anchors.alarms import fork_alarms_total
from anchors.crossregion import CrossRegionVerifier
from anchors.errors import SizeConflictError, WitnessRefusal
from anchors.model import format_time
from anchors.uses import UseInputError, UseRequest
from anchors.witness import MAX_REQUEST_BYTES, SIZE_CONTENT_TYPE, Witness
from ledger.ids import LeafIndex
from signatures.cose import decode_token
from verify_api import problems as p
from verify_api.auth import VerifierKey
from verify_api.deps import EvidenceDep
from verify_api.evidence import Evidence
from verify_api.federation_schemas import FederationVerifyIn, FederationVerifyOut, PeerStatusOut
from verify_api.local_federation import local_verify
from verify_api.params import CANONICAL
from verify_api.problems import (
    ANCHOR_NOT_FOUND,
    INVALID_FIELD,
    PAYLOAD_TOO_LARGE,
    PROBLEM_MEDIA_TYPE,
    REGISTRY,
    WITNESS_BAD_REQUEST,
    ProblemError,
    problem_response,
)
from verify_api.schemas import AUTH, BODY, BUSY, PROBLEM_RESPONSES, QUERY, problem_responses
from verify_api.services import RegionServices
from verify_api.tokens import check_token, parse_token

_witness_lock = threading.Lock()
_verifier_lock = threading.Lock()


router = APIRouter(tags=["federation"])


def _region(request: Request) -> RegionServices:
    region: RegionServices = request.app.state.region
    return region


def _witness(request: Request) -> Witness:
    """The region's witness, built once per app (its key is decrypted from the keystore once)."""
    with _witness_lock:
        witness: Witness | None = getattr(request.app.state, "anchors_witness", None)
        if witness is None:
            witness = _region(request).witness()
            request.app.state.anchors_witness = witness
        return witness


async def _read_capped(request: Request, cap: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > cap):
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


_ADD_CHECKPOINT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/plain": {}}, "description": "the witness's cosignature line(s) (C2SP tlog-cosignature)"},
    400: {"content": {PROBLEM_MEDIA_TYPE: {}}, "description": "malformed request, or old size > size"},
    403: {"content": {PROBLEM_MEDIA_TYPE: {}}, "description": "no signature by a key trusted for the log"},
    404: {"content": {PROBLEM_MEDIA_TYPE: {}}, "description": "this witness does not witness that log"},
    409: {"content": {SIZE_CONTENT_TYPE: {}}, "description": "old size is not the last cosigned size (body: it)"},
    413: {"content": {PROBLEM_MEDIA_TYPE: {}}, "description": "request body too large"},
    422: {"content": {PROBLEM_MEDIA_TYPE: {}}, "description": "the consistency proof does not verify"},
}


@router.post(
    "/add-checkpoint",
    summary="C2SP tlog-witness add-checkpoint",
    responses=_ADD_CHECKPOINT_RESPONSES,
    operation_id="addCheckpoint",
)
async def add_checkpoint(request: Request) -> Response:
    """Cosign a checkpoint of a log this region witnesses, if it grew consistently from the last one cosigned."""
    body = await _read_capped(request, MAX_REQUEST_BYTES)
    if body is None:
        return problem_response(PAYLOAD_TOO_LARGE, f"at most {MAX_REQUEST_BYTES} bytes")
    witness = await run_in_threadpool(_witness, request)
    try:
        cosignatures = await run_in_threadpool(witness.add_checkpoint, body)
    except SizeConflictError as exc:
        # Exactly `text/x.tlog.size` (the spec's type; Starlette would append a charset to a media_type).
        return Response(f"{exc.latest_size}\n".encode(), status_code=409, headers={"Content-Type": SIZE_CONTENT_TYPE})
    except WitnessRefusal as exc:
        return problem_response(REGISTRY.get(exc.problem, WITNESS_BAD_REQUEST), exc.detail, status=exc.status)
    return PlainTextResponse("".join(c.to_line() for c in cosignatures))


@router.get(
    "/v1/federation/identity",
    summary="This region's public keys, for peers to pin",
    operation_id="getFederationIdentity",
    responses=problem_responses(*BUSY),
)
def identity(request: Request) -> dict[str, object]:
    """Origin, trust-list root key, log key and witness key (a peer pins them at `peers add`, then compares)."""
    cached: dict[str, object] | None = getattr(request.app.state, "anchors_identity", None)
    if cached is not None:
        return cached
    region = _region(request)
    doc: dict[str, object] = {
        "origin": region.config.origin,
        "region_code": region.config.code,
        "region_name": region.config.name,
        "root_key": region.root_key_text(),
        "log_verifier_key": region.log_signer.verifier.to_string(),
        "witness_key": _witness(request).signer.verifier.to_string(),
    }
    request.app.state.anchors_identity = doc  # keys are read once: this endpoint must not cost a key decryption
    return doc


@router.get(
    "/v1/federation/peers",
    summary="Federated regions and their last sync",
    operation_id="listFederationPeers",
    responses=problem_responses(*BUSY),
)
def peers(request: Request) -> dict[str, object]:
    """Every peer: URL, pinned root key digest, witness key, trust list version, last sync, last error."""
    region = _region(request)
    store, rules = region.anchor_store(), region.cross_region_store()
    out = []
    for peer in store.peers():
        latest = store.latest_peer_checkpoint(peer.origin)
        rule = rules.latest_rule(peer.origin)
        doc = peer.to_json(None if latest is None else latest.size)
        out.append(doc | {"acceptance": None if rule is None else rule.to_json()})
    return {"peers": out}


@router.get(
    "/v1/federation/alarms",
    summary="Fork evidence: two views of a log that cannot both be true",
    operation_id="listForkAlarms",
    responses=problem_responses(*BUSY),
)
def alarms(request: Request) -> dict[str, object]:
    """Every stored alarm with both notes and the failing proof (public: anyone may re-check the evidence)."""
    stored = _region(request).anchor_store().alarms(limit=1000)
    return {
        "count": len(stored),
        "raised_by_this_process": fork_alarms_total(),
        "alarms": [a.to_json() for a in stored],
    }


@router.get(
    "/v1/anchors/{size}",
    summary="The RFC 3161 timestamp and the witness cosignatures of a checkpoint",
    responses=problem_responses(*QUERY, *BUSY, ANCHOR_NOT_FOUND),
    operation_id="getAnchors",
)
def anchors_at(
    request: Request, size: Annotated[int, Path(ge=0, le=2**63 - 1, description="tree size"), CANONICAL]
) -> Response:
    """Each anchored checkpoint of this size: the note, its timestamp token (base64 DER) and the cosignature lines."""
    store = _region(request).anchor_store()
    stamps = store.timestamps_at(size)
    cosigs = store.cosignatures_at(size)
    if not stamps and not cosigs:
        return problem_response(ANCHOR_NOT_FOUND, f"checkpoint size {size} was never anchored")
    checkpoints = []
    for anchor in stamps:
        checkpoints.append(
            {
                "note": anchor.note,
                "note_sha256": anchor.note_sha256.hex(),
                "timestamp": {
                    "token": base64.b64encode(anchor.token).decode(),
                    "gen_time": format_time(anchor.gen_time),
                    "anchored_at": format_time(anchor.anchored_at),
                },
                "cosignatures": [c.line for c in cosigs if c.note_sha256 == anchor.note_sha256],
            }
        )
    stamped = {a.note_sha256 for a in stamps}
    orphans = [c.line for c in cosigs if c.note_sha256 not in stamped]
    return JSONResponse({"tree_size": size, "checkpoints": checkpoints, "cosignatures_without_timestamp": orphans})


# -- cross-region verification -------------------------------------------------------------------------------------


def _cross_verifier(request: Request) -> CrossRegionVerifier:
    """One verifier per app: it keeps its parsed peer trust lists, its sync throttle and a kept-alive HTTP client."""
    with _verifier_lock:
        verifier: CrossRegionVerifier | None = getattr(request.app.state, "cross_verifier", None)
        if verifier is None:
            verifier = _region(request).cross_region_verifier()
            request.app.state.cross_verifier = verifier
        return verifier


def _use_request(principal: str, body: FederationVerifyIn) -> UseRequest:
    try:
        return UseRequest(principal, body.matter_code, body.purpose, body.consent)
    except UseInputError as exc:
        raise ProblemError(INVALID_FIELD, str(exc), field=exc.field) from exc


@router.post(
    "/v1/federation/verify",
    response_model=FederationVerifyOut,
    responses={
        **PROBLEM_RESPONSES,
        **problem_responses(*AUTH, *BODY, *BUSY, p.MALFORMED_TOKEN, p.CONCURRENT_UPDATE, p.STATUS_UNPROVEN),
    },
    summary="Verify a licence of any region for a matter and record the use",
    operation_id="verifyAnyRegion",
)
def federation_verify(
    request: Request, body: FederationVerifyIn, principal: VerifierKey, evidence: EvidenceDep
) -> FederationVerifyOut:
    """A licence token of this region or of a peer: the verdict (valid, valid_unconfirmed, unconfirmed, invalid,
    refused) with its reasons and evidence; the use is recorded (on the licence here, on our ledger for a peer's)."""
    region = _region(request)
    data = parse_token(body.token)
    use = _use_request(principal.principal, body)
    if decode_token(data)[1].log_origin == region.config.origin:
        return _with_use_proof(local_verify(region, evidence, data, use), evidence)
    result = _cross_verifier(request).verify(data)
    return _with_use_proof(FederationVerifyOut.model_validate(region.record_cross_region_use(result, use)), evidence)


def _with_use_proof(answer: FederationVerifyOut, evidence: Evidence) -> FederationVerifyOut:
    """The answer with the inclusion proof of the recorded use's leaf on our ledger, under our signed checkpoint
    (`use.checkpoint`), as the local verify answer has it. For our own licence the minting leaf's proof is moved
    under that same checkpoint, so one note covers both (as `checkpoint` does in the local verify answer)."""
    use = answer.use
    if use is None or not use.recorded:
        return answer
    minted = answer.inclusion.leaf_index if answer.local and answer.inclusion is not None else -1
    cp = evidence.covering(max(use.leaf_index, minted))
    proven = use.model_copy(
        update={"inclusion_proof": evidence.inclusion(LeafIndex(use.leaf_index), cp), "checkpoint": cp.note}
    )
    inclusion = answer.inclusion
    if inclusion is not None and minted >= 0:
        proof = evidence.inclusion(LeafIndex(minted), cp)
        if proof is not None:
            inclusion = inclusion.model_copy(
                update={"tree_size": proof.tree_size, "hashes": proof.hashes, "checkpoint": cp.note}
            )
    return answer.model_copy(update={"use": proven, "inclusion": inclusion})


@router.get(
    "/v1/federation/status",
    response_model=PeerStatusOut,
    responses={**PROBLEM_RESPONSES, **problem_responses(*QUERY, *BUSY, p.MALFORMED_TOKEN, p.STATUS_UNPROVEN)},
    summary="This region's word on one of its own licence tokens now (what peers ask)",
    operation_id="getFederationStatus",
)
def federation_status(
    request: Request,
    token: Annotated[str, Query(min_length=1, max_length=4096, description="QR URL or base64url token")],
) -> PeerStatusOut:
    """Verdict and reason code only (no names, no fields): the status part of a peer's cross-region check."""
    region = _region(request)
    check = check_token(region, parse_token(token))
    current = None if check.licence is None else check.licence.licence_version
    return PeerStatusOut(
        origin=region.config.origin, verdict=check.verdict.value, reason_code=check.reason_code, current_version=current
    )
