"""The problem registry: every error the API returns is an RFC 9457 problem with a stable `type` URI from here.

Route code raises `ProblemError(PROBLEM, detail, field=...)`; domain errors of the lower packages are mapped to
problems in one table (`map_exception`), so no handler guesses a status code. A `type` URI, once published, is never
renamed: clients switch on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse

from verify_api.errors import ApiError

PROBLEM_BASE = "https://trustledger.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """One registered problem: slug (the last segment of its `type` URI), HTTP status, short human title."""

    slug: str
    status: int
    title: str

    @property
    def uri(self) -> str:
        """The stable `type` URI (RFC 9457 §3.1.1)."""
        return PROBLEM_BASE + self.slug


REGISTRY: dict[str, ProblemType] = {}


def _register(slug: str, status: int, title: str) -> ProblemType:
    if slug in REGISTRY:
        raise ValueError(f"problem type {slug!r} registered twice")
    REGISTRY[slug] = ProblemType(slug, status, title)
    return REGISTRY[slug]


# -- input ---------------------------------------------------------------------------------------------------------
VALIDATION = _register("validation", 422, "The request is not valid")
INVALID_FIELD = _register("invalid-field", 422, "A field of the request is not valid")
MALFORMED_TOKEN = _register("malformed-token", 422, "This is not a licence token")
PAYLOAD_TOO_LARGE = _register("payload-too-large", 413, "The request body is too large")
UNSUPPORTED_MEDIA = _register("unsupported-media-type", 415, "The request body has the wrong media type")
# -- who may ask -----------------------------------------------------------------------------------------------------
UNAUTHENTICATED = _register("unauthenticated", 401, "An API key is required")
FORBIDDEN = _register("forbidden", 403, "This API key's role may not do this")
UNAUTHORISED_DEPARTMENT = _register("unauthorised-department", 403, "The department is not authorised for this")
RATE_LIMITED = _register("rate-limited", 429, "Too many requests from this address")
# -- what is there ---------------------------------------------------------------------------------------------------
NOT_FOUND = _register("not-found", 404, "No such resource")
LICENCE_NOT_FOUND = _register("licence-not-found", 404, "No such licence")
CHECKPOINT_NOT_FOUND = _register("checkpoint-not-found", 404, "No signed checkpoint of that size")
NOT_IN_LOG = _register("not-in-log", 404, "Not in the log")
METHOD_NOT_ALLOWED = _register("method-not-allowed", 405, "Method not allowed on this resource")
# -- state conflicts ---------------------------------------------------------------------------------------------------
LIFECYCLE_CONFLICT = _register("lifecycle-conflict", 409, "The licence's lifecycle does not allow this")
LICENCE_REVOKED = _register("licence-revoked", 409, "The licence is revoked")
LICENCE_SUSPENDED = _register("licence-suspended", 409, "The licence is suspended")
NOT_SUSPENDED = _register("not-suspended", 409, "Only a suspended licence can be reinstated")
RENEWAL_NOT_ALLOWED = _register("renewal-not-allowed", 409, "The licence cannot be renewed now")
NOTHING_TO_AMEND = _register("nothing-to-amend", 409, "The amendment changes nothing")
HOLDER_ALREADY_HOLDS = _register(
    "holder-already-holds", 409, "The holder already holds an active licence of this type, and may hold only one"
)
CONCURRENT_UPDATE = _register("concurrent-update", 409, "Someone else changed the licence at the same time; retry")
IDEMPOTENCY_CONFLICT = _register(
    "idempotency-conflict", 422, "This Idempotency-Key was already used for a different request"
)
HOLDER_DATA_SHREDDED = _register("holder-data-shredded", 410, "The holder's personal data has been erased")
UNRENDERABLE = _register("unrenderable-text", 422, "The licence has text the PDF font cannot show")
SEAL_FAILED = _register("seal-failed", 503, "The e-seal service could not seal the document; retry later")
# -- witnessing and anchors (C2SP tlog-witness answers 400/403/404/422 as problems; slugs from anchors/errors.py) ------
WITNESS_BAD_REQUEST = _register("witness-bad-request", 400, "The witness refuses this checkpoint")
WITNESS_UNTRUSTED_CHECKPOINT = _register("witness-untrusted-checkpoint", 403, "The witness refuses this checkpoint")
WITNESS_UNKNOWN_LOG = _register("witness-unknown-log", 404, "The witness refuses this checkpoint")
WITNESS_INCONSISTENT = _register("witness-inconsistent", 422, "The witness refuses this checkpoint")
ANCHOR_NOT_FOUND = _register("anchor-not-found", 404, "No anchor of that size")
# -- the server ----------------------------------------------------------------------------------------------------
LEDGER = _register("ledger", 400, "The ledger cannot serve this request")
UNAVAILABLE = _register("unavailable", 503, "The service is not ready")
NO_USABLE_TOKEN_KEY = _register(
    "no-usable-token-key", 503, "The issuer has no usable token key; an operator must run `trustledger keys rotate`"
)
BUSY = _register("busy", 503, "The ledger is busy; retry after the time in Retry-After")
STATUS_UNPROVEN = _register(
    "status-unproven", 503, "The licence's status cannot be proven against a signed checkpoint; the operator is alerted"
)
LOG_INCONSISTENT = _register("log-inconsistent", 500, "The log does not match its stored hashes; run an audit")
INTERNAL = _register("internal", 500, "Internal error")
HTTP_ERROR = _register("http-error", 400, "The HTTP request cannot be served")


class ProblemError(ApiError):
    """Raised by route code to answer with a registered problem; extensions (e.g. `field`) go into the body."""

    def __init__(
        self,
        problem: ProblemType,
        detail: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
        self.status = status or problem.status
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_body(problem: ProblemType, detail: str, *, status: int | None = None, **extensions: Any) -> dict[str, Any]:
    """The JSON object of a problem (RFC 9457 §3): type, title, status, detail, then extension members."""
    body: dict[str, Any] = {"type": problem.uri, "title": problem.title, "status": status or problem.status}
    body["detail"] = detail
    body.update({k: v for k, v in extensions.items() if v is not None})
    return body


def problem_response(
    problem: ProblemType,
    detail: str,
    *,
    status: int | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """An `application/problem+json` response for a registered problem."""
    body = problem_body(problem, detail, status=status, **extensions)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def http_problem(status: int) -> ProblemType:
    """The registered problem for a bare HTTP status raised by the framework (404 route, 405 method…)."""
    return {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: PAYLOAD_TOO_LARGE, 415: UNSUPPORTED_MEDIA}.get(
        status, HTTP_ERROR
    )
