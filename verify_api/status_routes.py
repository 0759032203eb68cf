"""Status map proofs (DESIGN §4b): `GET /v1/status/proof?identifier=I[&size=N][&token=T]`, rate-limited.

Anyone can check the document with the log's verifier key alone (`signatures.statusproof.verify_status_proof`): the
checkpoint it carries is signed, its first extension line is the map root, and the siblings lead from the entry (or
from where the identifier would be) to that root. `size` asks for the map as of an older checkpoint ("was it valid
when it was used on day X?").

Who may ask (docs/adr/0013): an organisation's licensing decisions are public (公示), so the proof of an
organisation-held type is public. A citizen's licence is personal data: its identifier is printed and seen by every
verifier, so a public proof would let anyone who once saw it follow its lifecycle for ever. Its proof goes only to
a possessor — the caller presents the licence's QR token (signed by a registered key of the issuer, `sub` = the
asked identifier) — or to a caller with an API key. Everyone else gets the same 404 whether the licence exists or
not, so guessing identifiers learns nothing.
"""

from __future__ import annotations

import base64
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query

from ledger.errors import ProofError
from licences.catalogue import Catalogue
from licences.errors import UnknownLicenceTypeError
from licences.identifiers import HolderKind, parse_identifier
from signatures.cose import decode_token, parse_token_text, verify_token_signature
from signatures.errors import MalformedError, SignatureError
from signatures.keyring import KeyRing
from signatures.statusproof import ProvenStatus
from verify_api import problems as p
from verify_api import reads
from verify_api.auth import OptionalKey
from verify_api.deps import RegionDep
from verify_api.params import CANONICAL
from verify_api.problems import CHECKPOINT_NOT_FOUND, NOT_FOUND, ProblemError
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
    responses=problem_responses(*QUERY, *BUSY, p.INVALID_FIELD, p.NOT_FOUND, p.CHECKPOINT_NOT_FOUND, p.RATE_LIMITED),
)
def status_proof(
    region: RegionDep,
    _: RateLimited,
    principal: OptionalKey,
    identifier: Annotated[str, Query(min_length=1, max_length=256, description="full licence identifier (token sub)")],
    size: Annotated[int | None, Query(ge=1, le=MAX_SIZE, description="size of a signed checkpoint"), CANONICAL] = None,
    token: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=MAX_TOKEN_TEXT,
            description="the licence's QR token (or its `/v/…` URL): needed for a licence a citizen may hold, "
            "unless the caller has an API key",
        ),
    ] = None,
) -> StatusProofDoc:
    """The status map proof of one licence version (membership or non-membership) against a signed checkpoint.
    Public for organisation-held types; for types a citizen may hold, only with the licence's token or an API key
    (anyone else gets 404, whether the licence exists or not)."""
    parsed = parse_identifier(identifier, strict=False)  # a 422 naming `identifier` for what is no licence identifier
    if principal is None and not _may_see(region, parsed.type_code, token, identifier):
        raise ProblemError(NOT_FOUND, NOT_DISCLOSED)
    try:
        proof = reads.status_proof(region.reads, identifier, size)  # the replica's only if not behind (ADR 0015)
    except ProofError as exc:
        raise ProblemError(CHECKPOINT_NOT_FOUND, str(exc), field="size" if size is not None else None) from exc
    return StatusProofDoc.model_validate(proof.to_json())


MAX_TOKEN_TEXT = 2048  # a token is ~300 bytes; its URL form adds the public base URL
NOT_DISCLOSED = (
    "no status proof to disclose: a licence a citizen may hold is proven only to its possessor (pass its QR token "
    "as `token`) or to a caller with an API key"
)


def _may_see(region: RegionServices, type_code: str, token: str | None, identifier: str) -> bool:
    """Whether a caller without an API key may see the proof: a public type, or the licence's token presented."""
    return _public_type(region.catalogue, type_code) or (token is not None and possesses(region, token, identifier))


def _public_type(catalogue: Catalogue, type_code: str) -> bool:
    """Whether licences of this type are organisations' (public by law); an unknown type is treated as private."""
    try:
        return catalogue.licence_type(type_code).holder_kind is HolderKind.ORGANISATION
    except UnknownLicenceTypeError:
        return False


def possesses(region: RegionServices, token: str, identifier: str) -> bool:
    """Whether `token` is a licence token of this region for `identifier`, signed by a registered key of its issuer.
    The key's lifecycle and the licence's status are not judged here: a holder of a revoked licence's token may
    still see that it is revoked."""
    sources = region.ledger_sources()
    try:
        data = parse_token_text(token)
        _, claims = decode_token(data)
        if claims.log_origin != sources.origin or claims.subject != identifier:
            return False
        verify_token_signature(data, KeyRing.of(sources.keys.keys_of(claims.issuer)).public_key)
    except (MalformedError, SignatureError):
        return False
    return True


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
