"""Auditors: a licence's whole history, each event with an inclusion proof against one stated signed checkpoint.

JSON at `/v1/licences/{id}/history` (auditors; departments for their types) and a page at
`/licences/{id}/provenance`. The page has two variants: with an auditor's or department's key, the full trail
(uses, reminders, event JSON); for anyone holding the licence's QR token (`?token=`, the link on the scan page),
lifecycle events only, with no event content — the least a citizen needs to see that the trail is proven.
Without either, the page says "not found" and itself reveals nothing, not even whether the licence exists. For an
organisation's licence (public by law) the status map proves, to anyone who knows the identifier, its status and
validity, and leads to its lifecycle events in the public log; a citizen's licence has a keyed stream id and its
status proof needs the token, so the log cannot be searched for it. Never the holder or the uses (ADR 0013).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter

from ledger.log import Checkpoint
from licences.application import HistoryEntry, LicenceView
from licences.errors import LicenceNotFoundError
from licences.identifiers import HolderKind
from licences.values import LicenceId
from verify_api import problems as p
from verify_api.auth import OptionalKey, ReaderKey
from verify_api.deps import EvidenceDep, RegionDep
from verify_api.evidence import Evidence
from verify_api.licence_routes import LicenceRef
from verify_api.pages import render
from verify_api.params import CANONICAL
from verify_api.problems import ProblemError
from verify_api.public_routes import AUTHENTIC, VERDICT_TEXT
from verify_api.ratelimit import public_rate_limit
from verify_api.schemas import (
    AUTH,
    BUSY,
    MAX_LOG_INDEX,
    QUERY,
    HistoryEvent,
    HistoryEventOut,
    HistoryOut,
    problem_responses,
)
from verify_api.services import RegionServices
from verify_api.tokens import Verdict, check_token, parse_token
from verify_api.views import check_read, may_read

router = APIRouter(tags=["audit"])
HTML: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "the provenance page"},
    404: {"content": {"text/html": {}}, "description": "a page saying there is no trail to show (reveals nothing)"},
}
PUBLIC_KINDS = frozenset({"issued", "renewed", "amended", "suspended", "reinstated", "revoked", "sealed"})
KIND_ZH = {
    "issued": "签发",
    "renewed": "换证（延续）",
    "amended": "变更",
    "suspended": "暂扣",
    "reinstated": "恢复",
    "revoked": "注销/吊销",
    "reminder": "到期提醒",
    "sealed": "加盖电子印章",
    "invoked": "用证",
}
_HISTORY_EVENT: TypeAdapter[HistoryEvent] = TypeAdapter(HistoryEvent)
SizeQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_LOG_INDEX, description="tree size of an older signed checkpoint (default: the latest)"),
    CANONICAL,
]


def _plain_json(value: Any) -> Any:
    """The stored JSON with the event store's type wrappers (`{"_type_": "datetime_iso", "_data_": …}`) unwrapped
    to their ISO-8601 or hex text, which the documented models parse."""
    if isinstance(value, dict):
        if set(value) == {"_type_", "_data_"}:
            return _plain_json(value["_data_"])
        return {k: _plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v) for v in value]
    return value


def history_event(entry: HistoryEntry) -> HistoryEvent:
    """The documented form of one stored event (the one mapping from the event store's JSON to the history API).

    Each kind's model takes the members it names and ignores the rest, so the event store's own (`timestamp`,
    `originator_*`), the sealed holder blob and the identifier check flag never reach an answer; a member a model
    needs and the event lacks is an error, not a default. Two members are renamed: a revocation's `kind` (the name
    the discriminator has) is `revocation`, and an amendment says only whether it re-sealed the holder data.
    """
    stored = _plain_json(entry.event)
    document = {**stored, "kind": entry.kind}
    if entry.kind == "revoked":
        document["revocation"] = stored.get("kind")
    if entry.kind == "amended":
        document["holder_data_changed"] = stored.get("holder_blob") is not None
    return _HISTORY_EVENT.validate_python(document)


@dataclass(frozen=True)
class Trail:
    """A licence's (filtered) history proven against one checkpoint."""

    licence: LicenceView
    checkpoint: Checkpoint
    events: list[HistoryEventOut]


def build_trail(
    region: RegionServices,
    evidence: Evidence,
    licence_id: LicenceId,
    size: int | None,
    *,
    public: bool,
    after: int = -1,
) -> Trail:
    """The history with a proof per event under the checkpoint of `size` (default: the newest, signed if needed)."""
    view = region.licences.get(licence_id)
    entries: list[HistoryEntry] = [e for e in region.licences.history(licence_id) if e.leaf_index > after]
    if public:
        entries = [e for e in entries if e.kind in PUBLIC_KINDS]
    newest = max((e.leaf_index for e in entries), default=view.last_leaf)
    cp = evidence.covering(newest) if size is None else evidence.of_size(size)
    events = [
        HistoryEventOut(
            leaf_index=e.leaf_index,
            kind=e.kind,
            recorded_at=e.recorded_at,
            licence_version=e.licence_version,
            topic=e.topic,
            event=None if public else history_event(e),
            leaf_hash=evidence.leaf_hash(e.leaf_index),
            inclusion_proof=evidence.inclusion(e.leaf_index, cp),
        )
        for e in entries
    ]
    return Trail(view, cp, events)


@router.get(
    "/v1/licences/{licence_id}/history",
    response_model=HistoryOut,
    operation_id="getLicenceHistory",
    responses=problem_responses(*AUTH, *QUERY, *BUSY, p.LICENCE_NOT_FOUND, p.CHECKPOINT_NOT_FOUND),
)
def history(
    licence_id: LicenceRef,
    principal: ReaderKey,
    region: RegionDep,
    evidence: EvidenceDep,
    size: SizeQuery = None,
    after: Annotated[int, Query(ge=-1, le=MAX_LOG_INDEX, description="only events at leaf indexes above this")] = -1,
) -> HistoryOut:
    """Every event of the licence (lifecycle and uses) with its leaf index, its documented form by `kind` and its
    inclusion proof under one signed checkpoint."""
    lid = region.licences.resolve(licence_id)
    check_read(principal, region.licences.get(lid), region.catalogue)
    trail = build_trail(region, evidence, lid, size, public=False, after=after)
    return HistoryOut(
        licence_id=str(lid),
        identifier=trail.licence.identifier,
        checkpoint=evidence.checkpoint_out(trail.checkpoint),
        events=trail.events,
    )


def _not_found(request: Request, region: RegionServices) -> HTMLResponse:
    context = {
        "region_name": region.config.name,
        "code": "not_found",
        "title_zh": "未找到溯源记录",
        "title_en": "No provenance trail here",
        "text_zh": "请通过证照二维码核验页面中的链接访问。",
        "text_en": "Open it from the link on the licence's QR check page.",
    }
    return render(request, "message.html", context, 404)


@router.get(
    "/licences/{licence_id}/provenance",
    response_class=HTMLResponse,
    responses={**problem_responses(*QUERY, *BUSY, p.RATE_LIMITED, page=True), **HTML},
    operation_id="getProvenancePage",
)
def provenance_page(
    request: Request,
    licence_id: Annotated[UUID, Path(description="licence id")],
    region: RegionDep,
    evidence: EvidenceDep,
    principal: OptionalKey,
    token: Annotated[str | None, Query(max_length=4096, description="the licence's QR token (public view)")] = None,
    size: SizeQuery = None,
) -> HTMLResponse:
    """The provenance trail as a page: full for an auditor's key, lifecycle-only for the holder of the QR token."""
    try:
        view = region.licences.get(region.licences.resolve(str(licence_id)))
    except LicenceNotFoundError:
        view = None
    full = principal is not None and view is not None and may_read(principal, view, region.catalogue)
    if not full:
        public_rate_limit(request)
        if view is None or token is None or not _token_opens(region, token, view.id):
            return _not_found(request, region)
    assert view is not None
    trail = build_trail(region, evidence, view.id, size, public=not full)
    status = Verdict(view.status.value)
    context = {
        "region_name": region.config.name,
        "licence": view,
        "status_zh": VERDICT_TEXT[status].zh,
        "events": trail.events,
        "checkpoint": evidence.checkpoint_out(trail.checkpoint),
        "full": full,
        "kinds": KIND_ZH,
        "public_register": region.catalogue.licence_type(view.type_code).holder_kind is HolderKind.ORGANISATION,
    }
    return render(request, "provenance.html", context)


def _token_opens(region: RegionServices, token: str, licence_id: LicenceId) -> bool:
    """Whether `token` is an authentic token (any version) of this very licence."""
    try:
        check = check_token(region, parse_token(token))
    except ProblemError:
        return False
    return check.verdict in AUTHENTIC and check.licence_id == licence_id
