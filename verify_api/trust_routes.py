"""The region's signed trust list (DESIGN §6): `GET /v1/trust-list` (current) and `GET /v1/trust-list/{version}`.

The body is the signed JSON exactly as published (RFC 8785 bytes), so every client hashes the same bytes. The current
list is revalidated cheaply (ETag = SHA-256 of the signed payload) and cached briefly, because a key compromise must
reach verifiers fast; an old version never changes and is cached forever, by clients and CDNs and in this process's
memory (`GET /v1/trust-list/{version}` reads the store once per version; HEAD and 304s as for tiles).
"""

from __future__ import annotations

from datetime import UTC
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response

from verify_api import problems as p
from verify_api.immutable import Body, remembered, respond
from verify_api.log_routes import get_region
from verify_api.params import CANONICAL
from verify_api.problems import NOT_FOUND, ProblemError
from verify_api.schemas import BUSY, QUERY, problem_responses
from verify_api.services import PublishedTrustList, RegionServices

router = APIRouter(tags=["trust"])
RegionDep = Annotated[RegionServices, Depends(get_region)]
MAX_AGE_CURRENT = 300  # seconds a cache may keep the current list without revalidating
# This process reuses the current version for TRUSTLEDGER_TRUST_LIST_CACHE_SECONDS (default 5) of the region's clock
# before re-reading the registry (~15 ms).
_IMMUTABLE = "public, max-age=31536000, immutable"


def _etag(row: PublishedTrustList) -> str:
    return f'"{row.payload_sha256}"'


def _headers(row: PublishedTrustList) -> dict[str, str]:
    return {
        "Last-Modified": format_datetime(row.issued_at.astimezone(UTC), usegmt=True),
        "Expires": format_datetime(row.next_update.astimezone(UTC), usegmt=True),
        "X-Trust-List-Version": str(row.version),
    }


def _response(request: Request, row: PublishedTrustList, cache_control: str) -> Response:
    headers = {"Cache-Control": cache_control, "ETag": _etag(row), **_headers(row)}
    wanted = request.headers.get("if-none-match", "")
    if _etag(row) in {tag.strip() for tag in wanted.split(",")} or wanted.strip() == "*":
        return Response(status_code=304, headers=headers)
    return Response(row.document.encode("utf-8"), media_type="application/json", headers=headers)


def _current(request: Request, region: RegionServices) -> PublishedTrustList:
    # A public endpoint: a burst of requests must not each rebuild the list from the registry. A key compromise
    # therefore reaches this endpoint within the cache time, measured on the region's clock (a test moves it).
    cached: tuple[float, PublishedTrustList] | None = getattr(request.app.state, "trust_list_cache", None)
    now = region.clock.monotonic()
    if cached is not None and now - cached[0] < region.settings.trust_list_cache_seconds:
        return cached[1]
    row = region.current_trust_list()
    request.app.state.trust_list_cache = (now, row)
    return row


@router.get(
    "/v1/trust-list",
    summary="The current signed trust list",
    responses={
        200: {"content": {"application/json": {}}, "description": "signed trust list (DESIGN §6)"},
        **problem_responses(*BUSY),
    },
    operation_id="getTrustList",
)
def trust_list(request: Request, region: RegionDep) -> Response:
    """The current signed trust list; a new version is published first if the registry changed or it is half-aged."""
    row = _current(request, region)
    remaining = int((row.next_update - region.clock()).total_seconds())
    max_age = max(0, min(MAX_AGE_CURRENT, remaining))
    return _response(request, row, f"public, max-age={max_age}, must-revalidate")


@router.get(
    "/v1/trust-list/{version}",
    summary="One published version of the trust list",
    responses={
        200: {"content": {"application/json": {}}, "description": "signed trust list (DESIGN §6)"},
        **problem_responses(*QUERY, *BUSY, p.NOT_FOUND),
    },
    operation_id="getTrustListVersion",
)
async def trust_list_version(
    request: Request,
    region: RegionDep,
    version: Annotated[int, Path(ge=1, le=2**53, description="version number"), CANONICAL],
) -> Response:
    """A published version, byte for byte as it was first served (verifiers walk the hash chain with these)."""
    route = request.scope["route"].path

    def read() -> Body:
        row = region.trust_list_version(version)
        if row is None:  # not published yet: nothing is kept, and asked again it is read again
            detail = f"trust list version {version} has not been published"
            raise ProblemError(NOT_FOUND, detail, field="version")
        data = row.document.encode("utf-8")
        return Body(data, _etag(row), "application/json", _IMMUTABLE, tuple(_headers(row).items()), route)

    return respond(request, await remembered(request, f"/v1/trust-list/{version}", read))
