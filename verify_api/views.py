"""What each role sees of a licence: domain views mapped to response schemas, and the read-scope rule.

Least disclosure: departments and auditors get the licence with its public fields and holder digest; approval
systems get the public fields only when the use was accepted; the public gets type, issuer, validity and a masked
name. No answer carries a holder's name in clear or an ID number.
"""

from __future__ import annotations

from licences.application import LicenceView
from licences.catalogue import Catalogue
from licences.errors import LicenceError
from verify_api.apikeys import Principal, Role
from verify_api.problems import UNAUTHORISED_DEPARTMENT, ProblemError
from verify_api.schemas import DisclosedLicence, LicenceOut


def licence_out(view: LicenceView) -> LicenceOut:
    """The department/auditor view of a licence."""
    return LicenceOut(
        id=str(view.id),
        identifier=view.identifier,
        type_code=view.type_code,
        type_name_zh=view.type_name_zh,
        type_name_en=view.type_name_en,
        issuer=view.issuer,
        issuer_name=view.issuer_name,
        holder_kind=view.holder_kind,
        holder_digest=view.holder_digest,
        status=view.status.value,
        lifecycle=view.lifecycle,  # type: ignore[arg-type]  # the read model holds only the three phases
        licence_version=view.licence_version,
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        fields=view.fields,
        leaf_index=view.minted_leaf,
        last_leaf=view.last_leaf,
        token=view.token,
        qr_url=view.qr_url,
    )


def disclosed(view: LicenceView, *, with_fields: bool) -> DisclosedLicence:
    """The approval-system view; public fields only when `with_fields` (an accepted use or an authentic token)."""
    return DisclosedLicence(
        id=str(view.id),
        identifier=view.identifier,
        type_code=view.type_code,
        type_name_zh=view.type_name_zh,
        type_name_en=view.type_name_en,
        issuer=view.issuer,
        issuer_name=view.issuer_name,
        holder_kind=view.holder_kind,
        status=view.status.value,
        licence_version=view.licence_version,
        valid_from=view.valid_from,
        valid_until=view.valid_until,
        fields=view.fields if with_fields else {},
    )


def may_read(principal: Principal, view: LicenceView, catalogue: Catalogue) -> bool:
    """Auditors read every licence; a department reads licences of the types it is authorised for."""
    if principal.role is Role.AUDITOR:
        return True
    if principal.role is not Role.ISSUER:
        return False
    try:
        return catalogue.licence_type(view.type_code).allows(catalogue.department(principal.principal))
    except LicenceError:
        return False


def check_read(principal: Principal, view: LicenceView, catalogue: Catalogue) -> None:
    """403 `unauthorised-department` unless `principal` may read `view`."""
    if not may_read(principal, view, catalogue):
        raise ProblemError(
            UNAUTHORISED_DEPARTMENT, f"department {principal.principal} is not authorised for {view.type_code}"
        )
