"""Licence-free handling (免证办, 一证通办): the matter catalogue and the lookup of a holder's licences for a matter.

`GET /v1/matters` and `GET /v1/matters/{code}` are public, like the licence catalogue. `POST
/v1/matters/{code}/licences` (approval systems) answers with the holder's licences of the matter's types, each with
only the fields the matter needs, each disclosure recorded as a use (`licences.matter_lookup`); every status is
proven with the status map, and every minting leaf and use leaf is proven under one signed checkpoint.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger.ids import LeafIndex
from ledger.log import Checkpoint
from licences.matter_lookup import Disclosure, MatterLookup, MatterLookups
from licences.matters import MatterCatalogue, UnknownMatterError, matter_json
from trustledger_client.matter_models import (
    MatterLicenceOut,
    MatterList,
    MatterLookupOut,
    MatterOut,
    PeerMatterOut,
    PrefillValue,
)
from verification import prove_current
from verify_api import problems as p
from verify_api.auth import VerifierKey
from verify_api.deps import EvidenceDep, IdempotencyKey, RegionDep
from verify_api.evidence import Evidence
from verify_api.problems import NOT_FOUND, ProblemError
from verify_api.schemas import AUTH, BODY, BUSY, PLAIN, QUERY, Reason, StatusProvenOut, UseOut, problem_responses
from verify_api.services import RegionServices
from verify_api.status_routes import status_proven_out

router = APIRouter(tags=["verification"])
MAX_AGE = 300  # seconds: as the licence catalogue, a republished matter catalogue reaches clients within this
MatterCode = Annotated[str, Path(min_length=1, max_length=64, description="matter code (事项编码)")]


class MatterLookupIn(BaseModel):
    """Whose licences, with what consent, and why: the applicant's ID number (GB 11643) or USCC (GB 32100)."""

    model_config = ConfigDict(extra="forbid")

    holder_id: Annotated[str, Field(min_length=1, max_length=64, description="resident ID number or USCC"), PLAIN]
    consent: Annotated[
        str, Field(min_length=1, max_length=1000, description="the holder's consent evidence, e.g. a reference"), PLAIN
    ]
    purpose: Reason
    licence_types: list[Annotated[str, Field(min_length=1, max_length=64), PLAIN]] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="only these of the matter's licence type codes (a peer region asks for the types it recognises)",
    )
    across_regions: bool = Field(
        default=False,
        description="also ask the peer regions whose licence types this region accepts; each records its uses, and "
        "its answer is checked against its log and status map before it is merged (docs/matters.md)",
    )


def _catalogue(region: RegionServices) -> MatterCatalogue:
    return MatterCatalogue(region.licences.recording, region.licences.store, region.registry)


def _not_found(exc: UnknownMatterError) -> ProblemError:
    return ProblemError(NOT_FOUND, str(exc))


@router.get("/v1/matters", response_model=MatterList, operation_id="listMatters", responses=problem_responses(*BUSY))
def list_matters(region: RegionDep, response: Response) -> MatterList:
    """The matter catalogue (事项目录) as published on the region's ledger: each matter's licence types and the
    fields it needs from each."""
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    catalogue = region.catalogue
    return MatterList(
        matters=[MatterOut.model_validate(matter_json(m, catalogue)) for m in _catalogue(region).matters()]
    )


@router.get(
    "/v1/matters/{code}",
    response_model=MatterOut,
    operation_id="getMatter",
    responses=problem_responses(*QUERY, *BUSY, p.NOT_FOUND),
)
def get_matter(code: MatterCode, region: RegionDep, response: Response) -> MatterOut:
    """One matter of the catalogue; 404 `not-found` for an unknown code."""
    try:
        matter = _catalogue(region).matter(code)
    except UnknownMatterError as exc:
        raise _not_found(exc) from exc
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return MatterOut.model_validate(matter_json(matter, region.catalogue))


@router.post(
    "/v1/matters/{code}/licences",
    response_model=MatterLookupOut,
    operation_id="lookupMatterLicences",
    responses=problem_responses(
        *AUTH, *BODY, *BUSY, p.NOT_FOUND, p.IDEMPOTENCY_CONFLICT, p.CONCURRENT_UPDATE, p.STATUS_UNPROVEN
    ),
)
def lookup_matter_licences(
    code: MatterCode,
    body: MatterLookupIn,
    principal: VerifierKey,
    region: RegionDep,
    evidence: EvidenceDep,
    idempotency_key: IdempotencyKey = None,
) -> MatterLookupOut:
    """The holder's licences of the matter's types with only the fields the matter needs; each disclosure is
    recorded as a use (matter, purpose, consent, who) in one transaction. A holder with none: an empty list and
    nothing recorded. A suspended, revoked or expired licence comes with its status and no fields."""
    lookups = MatterLookups(region.licences, _catalogue(region))
    try:
        with region.store.write():  # one unit of work: find the licences, record every use
            result = lookups.lookup(
                code,
                holder_id=body.holder_id,
                verifier=principal.principal,
                purpose=body.purpose,
                consent=body.consent,
                idempotency_key=idempotency_key,
                only_types=body.licence_types,
            )
    except UnknownMatterError as exc:
        raise _not_found(exc) from exc
    answer = lookup_out(result, region, evidence)
    if body.across_regions:  # after the local unit of work has committed: no transaction waits on a peer
        peers = region.ask_matter_peers(result.matter, body.holder_id, body.consent, body.purpose, idempotency_key)
        answer = _with_peers(answer, [PeerMatterOut.model_validate(p) for p in peers])
    return answer


def _with_peers(answer: MatterLookupOut, peers: list[PeerMatterOut]) -> MatterLookupOut:
    """The answer with the peers' parts; `prefill` keeps a local value first, then the first peer's."""
    prefill = dict(answer.prefill)
    for peer in peers:
        for lic in peer.licences:
            for name, value in lic.fields.items():
                prefill.setdefault(
                    name,
                    PrefillValue(value=value, licence_id=lic.id, identifier=lic.identifier, type_code=lic.type_code),
                )
    return answer.model_copy(update={"peers": peers, "prefill": prefill})


def lookup_out(result: MatterLookup, region: RegionServices, evidence: Evidence) -> MatterLookupOut:
    """The answer: each licence's status proven, and every minting and use leaf proven under one checkpoint."""
    if not result.disclosures:
        return MatterLookupOut(matter=result.matter.code, licences=[], prefill={}, checkpoint=None)
    sources = region.ledger_sources()
    proven = [prove_current(d.licence, sources) for d in result.disclosures]  # the status answered is the map's
    newest = max(max(d.licence.minted_leaf, d.use.leaf_index) for d in result.disclosures)
    cp = evidence.covering(newest)
    licences = [
        _licence_out(d, status_proven_out(region, pr), evidence, cp, region.config.code)
        for d, pr in zip(result.disclosures, proven, strict=True)
    ]
    prefill = {name: PrefillValue.model_validate(v) for name, v in result.prefill().items()}
    return MatterLookupOut(
        matter=result.matter.code, licences=licences, prefill=prefill, checkpoint=evidence.checkpoint_out(cp)
    )


def _licence_out(
    d: Disclosure, proven: StatusProvenOut | None, evidence: Evidence, cp: Checkpoint, source: str
) -> MatterLicenceOut:
    view, use = d.licence, d.use
    assert proven is not None  # `prove_current` proved it
    proof = evidence.inclusion(view.minted_leaf, cp)
    use_proof = evidence.inclusion(LeafIndex(use.leaf_index), cp)
    assert proof is not None and use_proof is not None  # `covering` covers the newest leaf of the answer
    outcome: Literal["accepted", "refused"] = "accepted" if use.outcome == "accepted" else "refused"
    use_id = str(use.invocation_id)
    return MatterLicenceOut(
        id=str(view.id),
        identifier=view.identifier,
        type_code=view.type_code,
        type_name_zh=view.type_name_zh,
        type_name_en=view.type_name_en,
        issuer=view.issuer,
        issuer_name=view.issuer_name,
        status=view.status.value,
        licence_version=view.licence_version,
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        outcome=outcome,
        refusal_reason=use.refusal_reason,
        fields=d.fields,
        leaf_index=view.minted_leaf,
        inclusion_proof=proof,
        use=UseOut(
            invocation_id=use_id, use_id=use_id, leaf_index=use.leaf_index, outcome=outcome, inclusion_proof=use_proof
        ),
        status_proven=proven,
        source_region=source,
    )
