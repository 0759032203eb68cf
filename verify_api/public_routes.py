"""Citizens: the QR landing page `/v/<token>` and its JSON twin `/v1/public/verify?token=` (rate-limited).

Least disclosure, but enough to bind the code to the paper it is printed on (a genuine code of another licence must
not "verify" a forged paper): type, issuer, validity, the licence identifier printed on the paper, the holder's
name (an organisation's in full, company names being public (公示); a person's masked, 张*三), the time of the
check and, for a revoked licence, 注销 or 吊销 as recorded; and a link to the lifecycle-only provenance trail.
Never a person's ID number or full name, a field value or a reason's text (the page carries only the stable
reason code, as `data-reason`). A token that fails any check shows only the verdict: a forged code must not put
its own words on the screen. The verdict is the verification core's (`verification.check_token_online`),
presented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse

from clock import CHINA_TIME
from licences.errors import PrivacyError
from licences.identifiers import HolderKind, mask_name
from licences.views import LicenceView
from signatures.cose import b64url_encode
from verification import StatusUnprovenError
from verify_api import problems as p
from verify_api.deps import RegionDep
from verify_api.handlers import alarm
from verify_api.pages import render
from verify_api.problems import PROBLEM_MEDIA_TYPE, ProblemError
from verify_api.ratelimit import RateLimited
from verify_api.schemas import BUSY, QUERY, PublicLicence, PublicVerdict, problem_responses
from verify_api.services import RegionServices
from verify_api.status_routes import status_proven_out
from verify_api.tokens import AUTHENTIC as AUTHENTIC  # the provenance page asks which verdicts are authentic
from verify_api.tokens import TokenStatus, Verdict, check_token, parse_token

router = APIRouter(tags=["public"])
# No length limit here: an over-long token gets the same "not a licence code" page as any other bad token.
TokenText = Annotated[str, Path(description="base64url COSE_Sign1 licence token")]


@dataclass(frozen=True)
class VerdictText:
    """How a verdict reads on the page: Chinese, English, a sentence each, and the colour."""

    zh: str
    en: str
    explain_zh: str
    explain_en: str
    tone: str


VERDICT_TEXT = {
    Verdict.VALID: VerdictText(
        "有效", "Valid", "证照真实，已登记上链，当前有效。", "Authentic, on the ledger, in force.", "ok"
    ),
    Verdict.NOT_YET_VALID: VerdictText(
        "尚未生效",
        "Not yet valid",
        "证照真实，但有效期尚未开始。",
        "Authentic, but its validity has not begun.",
        "warn",
    ),
    Verdict.EXPIRED: VerdictText(
        "已过期",
        "Expired",
        "证照真实，但已超过有效期。",
        "Authentic, but it has expired.",
        "bad",
    ),
    Verdict.SUSPENDED: VerdictText(
        "已暂扣",
        "Suspended",
        "证照已被发证机关暂扣，暂不可使用。",
        "Suspended by the issuer; not valid for now.",
        "bad",
    ),
    Verdict.REVOKED: VerdictText(
        "已注销",
        "Revoked",
        "证照已被发证机关注销或吊销，不再有效。",
        "Revoked by the issuer; no longer valid.",
        "bad",
    ),
    Verdict.SUPERSEDED: VerdictText(
        "已被新版本取代",
        "Superseded",
        "此二维码属于旧版本证照（已换证或变更），请出示最新版本。",
        "This code belongs to an older version (renewed or amended); ask for the current one.",
        "warn",
    ),
    Verdict.INVALID: VerdictText(
        "无法验证",
        "Not authentic",
        "二维码签名或登记记录核验未通过，可能是伪造的证照。",
        "The code's signature or ledger record did not check out; it may be forged.",
        "bad",
    ),
    Verdict.UNKNOWN: VerdictText(
        "未找到证照",
        "Unknown licence",
        "本证照库中没有该证照。",
        "This licence library has no such licence.",
        "bad",
    ),
    Verdict.OTHER_REGION: VerdictText(
        "其他地区的证照",
        "Another region's licence",
        "该证照由其他地区签发，请通过其所属地区核验。",
        "Minted by another region; check it with that region.",
        "warn",
    ),
}
MALFORMED_TEXT = VerdictText(
    "不是有效的证照二维码",
    "Not a licence code",
    "无法识别该二维码内容，请确认扫描的是电子证照二维码。",
    "This is not a licence QR code; check what was scanned.",
    "bad",
)


UNPROVEN_PAGE = {
    "code": "status_unproven",
    "title_zh": "暂时无法证明证照状态",
    "title_en": "The licence's status cannot be proven right now",
    "text_zh": "核验服务无法依据已签名的检查点证明该证照的状态，已通知运维人员。请稍后再试。",
    "text_en": "The service cannot prove this licence's status against a signed checkpoint; its operators have been "
    "alerted. Please try again later.",
}


def china_minute(moment: datetime) -> str:
    """The time of a check as the citizen reads it: Beijing time to the minute (2026-12-04 18:30 北京时间)."""
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M") + " 北京时间"


def provenance_path(check: TokenStatus) -> str | None:
    """The public provenance page of an authentic token's licence (the token is the citizen's proof of access)."""
    if not check.authentic or check.licence is None:
        return None
    return f"/licences/{check.licence.id}/provenance?token={b64url_encode(check.token)}"


REVOKED_PENALTY_TEXT = VerdictText(
    "已吊销",
    "Revoked (penalty)",
    "证照已被发证机关依法吊销，不再有效。",
    "Revoked by the issuer as a penalty; no longer valid.",
    "bad",
)
REVOKED_VOLUNTARY_TEXT = VerdictText(
    "已注销",
    "Cancelled",
    "证照已由发证机关注销，不再有效。",
    "Cancelled by the issuer; no longer valid.",
    "bad",
)
REVOCATION_TEXT = {"voluntary": REVOKED_VOLUNTARY_TEXT, "penalty": REVOKED_PENALTY_TEXT}
REVOCATION_KINDS: dict[str, Literal["voluntary", "penalty"]] = {"voluntary": "voluntary", "penalty": "penalty"}


def holder_names(region: RegionServices, view: LicenceView) -> tuple[str | None, str | None]:
    """(the name the page shows, the masked name) of a licence's holder; (None, None) once the holder is shredded.

    From the index row the check already read (no replay): an organisation's name in full, a person's masked. A row
    written before organisations were shown in full (or before 0010) takes the service's replay-and-decrypt path until
    the licence next changes.
    """
    display = view.display_name
    if view.holder_kind != HolderKind.ORGANISATION.value:
        masked = mask_name(display) if display is not None else region.licences.masked_holder_name(view.id)
        return masked, masked
    if display is not None and mask_name(display) != display:  # a masked name is its own mask: this one is full
        return display, mask_name(display)
    masked = region.licences.masked_holder_name(view.id)
    if masked is None:
        return None, None
    try:
        return region.licences.holder(view.id).name, masked
    except PrivacyError:  # shredded since, or a key that does not open it
        return None, None


def revocation_kind(region: RegionServices, view: LicenceView) -> Literal["voluntary", "penalty"] | None:
    """注销 (voluntary) or 吊销 (penalty) as the revocation's event records it; None unless revoked (one SELECT)."""
    if view.lifecycle != "revoked":
        return None
    return REVOCATION_KINDS.get(region.licences.queries.store.revocation_kind(view.id) or "")


def verdict_text(check: TokenStatus, licence: PublicLicence | None) -> VerdictText:
    """How the verdict reads; a revoked licence says whether it was cancelled (注销) or revoked as a penalty (吊销)."""
    if check.verdict is Verdict.REVOKED and licence is not None and licence.revocation_kind is not None:
        return REVOCATION_TEXT[licence.revocation_kind]
    return VERDICT_TEXT[check.verdict]


def public_verdict(region: RegionServices, check: TokenStatus) -> PublicVerdict:
    """The least-disclosure answer for a checked token (the core's status, presented)."""
    licence = None
    if check.authentic and check.licence is not None and check.claims is not None:
        view = check.licence
        name, masked = holder_names(region, view)
        licence = PublicLicence(
            type_name_zh=view.type_name_zh,
            type_name_en=view.type_name_en,
            issuer_name=view.issuer_name,
            identifier=check.claims.subject,  # the scanned version's, as printed on its paper
            licence_version=check.claims.version,
            current_version=view.licence_version,
            valid_from=view.valid_from,
            valid_until=view.valid_until,
            holder_kind="organisation" if view.holder_kind == HolderKind.ORGANISATION.value else "citizen",
            holder_name=name,
            holder_name_masked=masked,
            revocation_kind=revocation_kind(region, view),
        )
    path = provenance_path(check)
    return PublicVerdict(
        verdict=check.verdict.value,
        valid=check.bottom_line,
        reason=check.reason,
        reason_code=check.reason_code,
        checked_at=check.checked_at,
        licence=licence,
        provenance_url=None if path is None else region.public_base_url + path,
        status_proven=status_proven_out(region, check.proven, public=True),
    )


@router.get(
    "/v1/public/verify",
    response_model=PublicVerdict,
    operation_id="getPublicVerdict",
    responses=problem_responses(*QUERY, *BUSY, p.MALFORMED_TOKEN, p.RATE_LIMITED, p.STATUS_UNPROVEN),
)
def public_verify(
    region: RegionDep,
    _: RateLimited,
    token: Annotated[str, Query(min_length=1, max_length=4096, description="QR URL or base64url token")],
) -> PublicVerdict:
    """What the QR code says, as JSON: verdict, type, issuer, validity, identifier, holder name (a person's masked)."""
    data = parse_token(token)
    with region.store.reading():  # one read transaction: the verdict and what it shows come from one ledger state
        return public_verdict(region, check_token(region, data))


@router.get(
    "/v/{token}",
    response_class=HTMLResponse,
    responses={
        200: {"content": {"text/html": {}}, "description": "the verdict page"},
        400: {"content": {"text/html": {}}, "description": "a page saying this is not a licence code"},
        429: {"description": "rate-limited (problem+json, with Retry-After)", "content": {PROBLEM_MEDIA_TYPE: {}}},
    },
    operation_id="getScanPage",
)
def scan_page(request: Request, token: TokenText, region: RegionDep, _: RateLimited) -> HTMLResponse:
    """The page a citizen's phone camera opens: the verdict in Chinese and English, works without JavaScript."""
    context = {"region_name": region.config.name}
    try:
        data = parse_token(token)
    except ProblemError:
        text = MALFORMED_TEXT
        malformed = {**context, "verdict": "malformed", "reason_code": "malformed", "v": text, "licence": None}
        malformed["checked_at"] = china_minute(region.clock())
        return render(request, "verify.html", malformed, 400)
    try:
        with region.store.reading():  # one read transaction: the verdict and what it shows come from one ledger state
            check = check_token(region, data)
            answer = public_verdict(region, check)
    except StatusUnprovenError as exc:
        alarm(request, exc)
        return render(request, "message.html", {**context, **UNPROVEN_PAGE}, 503)
    page = {
        **context,
        "verdict": check.verdict.value,
        "reason_code": check.reason_code,  # a stable code (docs/verification.md), never the token's own words
        "v": verdict_text(check, answer.licence),
        "licence": answer.licence,
        "checked_at": china_minute(answer.checked_at),
        "provenance_url": provenance_path(check),
        "proven": answer.status_proven,
    }
    return render(request, "verify.html", page)
