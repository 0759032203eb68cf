"""Issuing departments: issue, renew, amend, suspend, reinstate, revoke, read and list licences, the sealed PDF.

The acting department is always the API key's principal, never a body field: a department cannot act in another's
name. The service checks that the department is authorised for the licence's type (403 `unauthorised-department`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response

from licences.application import LicenceView
from verify_api import problems as p
from verify_api.apikeys import Principal, Role
from verify_api.auth import IssuerKey, ReaderKey
from verify_api.deps import IdempotencyKey, LicencesDep, RegionDep
from verify_api.problems import FORBIDDEN, VALIDATION, ProblemError, ProblemType
from verify_api.schemas import (
    AUTH,
    BODY,
    BUSY,
    LIFECYCLE,
    PLAIN,
    QUERY,
    AmendIn,
    Instant,
    IssueIn,
    LicenceOut,
    LicencePage,
    ReinstateIn,
    RenewIn,
    RevokeIn,
    SuspendIn,
    problem_responses,
)
from verify_api.services import RegionServices
from verify_api.views import check_read, licence_out, may_read

router = APIRouter(tags=["licences"])


def _command_problems(*more: ProblemType) -> dict[int | str, dict[str, Any]]:
    """The problems of a lifecycle command on one licence (and `more` of its own)."""
    found = (p.LICENCE_NOT_FOUND, p.UNAUTHORISED_DEPARTMENT, *LIFECYCLE, *more)
    return problem_responses(*AUTH, *BODY, *BUSY, *found)


LicenceRef = Annotated[
    str, Path(min_length=1, max_length=128, description="licence UUID or any of its identifiers"), PLAIN
]


@router.post(
    "/v1/licences",
    status_code=201,
    response_model=LicenceOut,
    operation_id="issueLicence",
    responses=problem_responses(
        *AUTH,
        *BODY,
        *BUSY,
        p.UNAUTHORISED_DEPARTMENT,
        p.HOLDER_ALREADY_HOLDS,
        p.IDEMPOTENCY_CONFLICT,
        p.CONCURRENT_UPDATE,
        p.NO_USABLE_TOKEN_KEY,
    ),
)
def issue(
    body: IssueIn,
    principal: IssuerKey,
    licences: LicencesDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Issue (制证) a licence of a type the calling department is authorised for; returns it with its QR token."""
    view = licences.issue(
        type_code=body.type_code,
        issuer=principal.principal,
        holder_id=body.holder_id,
        holder_name=body.holder_name,
        fields=body.fields,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        idempotency_key=idempotency_key,
    )
    response.headers["Location"] = f"/v1/licences/{view.id}"
    return licence_out(view)


@router.post(
    "/v1/licences/{licence_id}/renew",
    response_model=LicenceOut,
    operation_id="renewLicence",
    responses=_command_problems(p.NO_USABLE_TOKEN_KEY),
)
def renew(
    licence_id: LicenceRef,
    body: RenewIn,
    principal: IssuerKey,
    licences: LicencesDep,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Renew (换证) within the renewal window: a new validity period, a new version and token."""
    lid = licences.resolve(licence_id)
    view = licences.renew(lid, actor=principal.principal, valid_until=body.valid_until, idempotency_key=idempotency_key)
    return licence_out(view)


@router.post(
    "/v1/licences/{licence_id}/amend",
    response_model=LicenceOut,
    operation_id="amendLicence",
    responses=_command_problems(p.NO_USABLE_TOKEN_KEY, p.HOLDER_DATA_SHREDDED),
)
def amend(
    licence_id: LicenceRef,
    body: AmendIn,
    principal: IssuerKey,
    licences: LicencesDep,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Amend (变更) registered particulars: a new version and token; an amendment that changes nothing is a 409."""
    lid = licences.resolve(licence_id)
    view = licences.amend(
        lid,
        actor=principal.principal,
        changes=body.changes,
        holder_name=body.holder_name,
        idempotency_key=idempotency_key,
    )
    return licence_out(view)


@router.post(
    "/v1/licences/{licence_id}/suspend",
    response_model=LicenceOut,
    operation_id="suspendLicence",
    responses=_command_problems(),
)
def suspend(
    licence_id: LicenceRef,
    body: SuspendIn,
    principal: IssuerKey,
    licences: LicencesDep,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Suspend (暂扣): not valid until reinstated."""
    lid = licences.resolve(licence_id)
    view = licences.suspend(lid, actor=principal.principal, reason=body.reason, idempotency_key=idempotency_key)
    return licence_out(view)


@router.post(
    "/v1/licences/{licence_id}/reinstate",
    response_model=LicenceOut,
    operation_id="reinstateLicence",
    responses=_command_problems(),
)
def reinstate(
    licence_id: LicenceRef,
    body: ReinstateIn,
    principal: IssuerKey,
    licences: LicencesDep,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Lift a suspension; only a suspended licence can be reinstated (409 otherwise)."""
    lid = licences.resolve(licence_id)
    view = licences.reinstate(lid, actor=principal.principal, reason=body.reason, idempotency_key=idempotency_key)
    return licence_out(view)


@router.post(
    "/v1/licences/{licence_id}/revoke",
    response_model=LicenceOut,
    operation_id="revokeLicence",
    responses=_command_problems(),
)
def revoke(
    licence_id: LicenceRef,
    body: RevokeIn,
    principal: IssuerKey,
    licences: LicencesDep,
    idempotency_key: IdempotencyKey = None,
) -> LicenceOut:
    """Revoke for good: 注销 (voluntary) or 吊销 (penalty)."""
    lid = licences.resolve(licence_id)
    view = licences.revoke(
        lid, actor=principal.principal, reason=body.reason, kind=body.kind, idempotency_key=idempotency_key
    )
    return licence_out(view)


@router.get(
    "/v1/licences/{licence_id}",
    response_model=LicenceOut,
    operation_id="getLicence",
    responses=problem_responses(*AUTH, *QUERY, *BUSY, p.LICENCE_NOT_FOUND),
)
def get_licence(licence_id: LicenceRef, principal: ReaderKey, region: RegionDep) -> LicenceOut:
    """One licence (auditors: any; departments: of their types)."""
    view = region.licences.get(region.licences.resolve(licence_id))
    check_read(principal, view, region.catalogue)
    return licence_out(view)


@router.get(
    "/v1/licences",
    response_model=LicencePage,
    operation_id="listLicences",
    responses=problem_responses(*AUTH, *QUERY, *BUSY),
)
def list_licences(
    principal: ReaderKey,
    region: RegionDep,
    holder: Annotated[
        str | None, Query(min_length=1, max_length=64, description="holder's ID number or USCC"), PLAIN
    ] = None,
    issuer: Annotated[str | None, Query(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$", description="issuer USCC")] = None,
    expiring_before: Annotated[
        Instant | None, Query(description="validity ends before this time (date-time with offset, 1900-2200)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[UUID | None, Query(description="issuer listing: the `next_after` of the previous page")] = None,
) -> LicencePage:
    """Licences by holder, by issuer (keyset pages), or still valid but expiring before a time; exactly one filter."""
    if sum(x is not None for x in (holder, issuer, expiring_before)) != 1:
        raise ProblemError(VALIDATION, "give exactly one of holder, issuer, expiring_before", field="holder")
    licences = region.licences
    views: list[LicenceView]
    next_after = None
    if issuer is not None:
        if principal.principal != issuer and principal.role is Role.ISSUER:
            raise ProblemError(FORBIDDEN, "a department lists only its own licences", field="issuer")
        views = licences.by_issuer(issuer, limit, after)
        next_after = str(views[-1].id) if len(views) == limit else None
    elif holder is not None:
        views = licences.by_holder(holder, limit)
    else:
        assert expiring_before is not None
        views = licences.expiring_between(region.clock(), expiring_before, limit)
    catalogue = region.catalogue
    return LicencePage(
        items=[licence_out(v) for v in views if may_read(principal, v, catalogue)], next_after=next_after
    )


@router.get(
    "/v1/licences/{licence_id}/pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the sealed licence PDF (PAdES B-LTA)"},
        **problem_responses(
            *AUTH, *BUSY, p.LICENCE_NOT_FOUND, p.LICENCE_REVOKED, p.HOLDER_DATA_SHREDDED, p.UNRENDERABLE, p.SEAL_FAILED
        ),
    },
    operation_id="getLicencePdf",
)
async def licence_pdf(licence_id: LicenceRef, principal: IssuerKey, region: RegionDep) -> Response:
    """A freshly sealed PDF of the licence's current version (the department's e-seal, PAdES B-LTA with the region
    TSA); its SHA-256 is recorded on the ledger (`DocumentSealed`, leaf in `X-Leaf-Index`) so the file can be
    checked against the ledger later."""
    view = await asyncio.to_thread(_readable, region, principal, licence_id)
    sealed = await region.seal_licence_pdf(view.id)
    headers = {
        "Content-Disposition": f'inline; filename="{view.id}.pdf"',
        "X-Leaf-Index": str(sealed.leaf_index),
        "X-Content-SHA256": sealed.sha256,
    }
    return Response(sealed.pdf, media_type="application/pdf", headers=headers)


def _readable(region: RegionServices, principal: Principal, licence_id: str) -> LicenceView:
    view = region.licences.get(region.licences.resolve(licence_id))
    check_read(principal, view, region.catalogue)
    return view
