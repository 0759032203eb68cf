"""Status map proofs (DESIGN §4b): `GET /v1/status/proof?identifier=I[&size=N]`, public and rate-limited.

Anyone can check the document with the log's verifier key alone (`signatures.statusproof.verify_status_proof`): the
checkpoint it carries is signed, its first extension line is the map root, and the siblings lead from the entry (or
from where the identifier would be) to that root. `size` asks for the map as of an older checkpoint ("was it valid
when it was used on day X?").
"""

from __future__ import annotations

import base64
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query

from ledger.errors import ProofError
from licences.identifiers import parse_identifier
from signatures.statusproof import ProvenStatus
from verify_api import problems as p
from verify_api.deps import RegionDep
from verify_api.params import CANONICAL
from verify_api.problems import CHECKPOINT_NOT_FOUND, ProblemError
from verify_api.ratelimit import RateLimited
from verify_api.schemas import BUSY, QUERY, StatusProofDoc, StatusProvenOut, problem_responses
from verify_api.services import RegionServices

router = APIRouter(tags=["public"])
MAX_SIZE = (1 << 63) - 1
PROOF_PATH = "/v1/status/proof"


@router.get(
    PROOF_PATH,
    response_model=StatusProofDoc,
    operation_id="getStatusProof",
    responses=problem_responses(*QUERY, *BUSY, p.INVALID_FIELD, p.CHECKPOINT_NOT_FOUND, p.RATE_LIMITED),
)
def status_proof(
    region: RegionDep,
    _: RateLimited,
    identifier: Annotated[str, Query(min_length=1, max_length=256, description="full licence identifier (token sub)")],
    size: Annotated[int | None, Query(ge=1, le=MAX_SIZE, description="size of a signed checkpoint"), CANONICAL] = None,
) -> StatusProofDoc:
    """The status map proof of one licence version (membership or non-membership) against a signed checkpoint."""
    parse_identifier(identifier, strict=False)  # a 422 naming `identifier` for what is no licence identifier
    try:
        proof = region.log.status_proof(identifier, size)
    except ProofError as exc:
        raise ProblemError(CHECKPOINT_NOT_FOUND, str(exc), field="size" if size is not None else None) from exc
    return StatusProofDoc.model_validate(proof.to_json())


def status_proven_out(
    region: RegionServices, proven: ProvenStatus | None, *, public: bool = False
) -> StatusProvenOut | None:
    """Which checkpoint a verdict's status was proven against; with the entry and the link to the whole proof unless
    `public` (least disclosure: those name the licence identifier)."""
    if proven is None:
        return None
    root = base64.b64encode(proven.map_root).decode()
    if public:
        return StatusProvenOut(checkpoint_size=proven.size, map_root=root)
    query = urlencode({"identifier": proven.identifier, "size": proven.size})
    return StatusProvenOut(
        checkpoint_size=proven.size,
        map_root=root,
        identifier=proven.identifier,
        value=None if proven.value is None else proven.value.to_canonical(),
        proof_url=f"{region.public_base_url}{PROOF_PATH}?{query}",
    )
