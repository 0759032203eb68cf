"""Exception handlers: every error leaves the API as a registered RFC 9457 problem, never as a bare 500 for input.

Domain errors of the lower packages map to problems through one table, walked along the exception's MRO so the most
specific registered class wins (a `LicenceRevokedError` is a `LifecycleError` too).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import BusyError, LedgerError, ProofError
from ledger.store import as_busy
from licences import errors as le
from licences.registry import NoUsableTokenKeyError
from licences.values import InvalidFieldsError, control_character
from seals.errors import MissingGlyphError, SealError
from verification import StatusUnprovenError
from verify_api import problems as p
from verify_api.errors import ApiKeyError
from verify_api.middleware import request_id_of
from verify_api.problems import ProblemError, ProblemType, problem_response

log = logging.getLogger("verify_api.errors")
_UNPROVEN_RETRY_AFTER = 60  # seconds: an operator has to repair the tables (audit) before an answer can be proven

DOMAIN_PROBLEMS: dict[type[Exception], ProblemType] = {
    le.InvalidFieldError: p.INVALID_FIELD,
    le.UnknownLicenceTypeError: p.INVALID_FIELD,
    le.UnknownDepartmentError: p.INVALID_FIELD,
    le.LicenceNotFoundError: p.LICENCE_NOT_FOUND,
    le.UnauthorisedDepartmentError: p.UNAUTHORISED_DEPARTMENT,
    le.LifecycleError: p.LIFECYCLE_CONFLICT,
    le.LicenceRevokedError: p.LICENCE_REVOKED,
    le.LicenceSuspendedError: p.LICENCE_SUSPENDED,
    le.NotSuspendedError: p.NOT_SUSPENDED,
    le.RenewalNotAllowedError: p.RENEWAL_NOT_ALLOWED,
    le.NothingToAmendError: p.NOTHING_TO_AMEND,
    le.ConcurrentUpdateError: p.CONCURRENT_UPDATE,
    le.HolderAlreadyHoldsError: p.HOLDER_ALREADY_HOLDS,
    le.IdempotencyConflictError: p.IDEMPOTENCY_CONFLICT,
    le.HolderDataShreddedError: p.HOLDER_DATA_SHREDDED,
    NoUsableTokenKeyError: p.NO_USABLE_TOKEN_KEY,
    SealError: p.SEAL_FAILED,
    MissingGlyphError: p.UNRENDERABLE,
    ProofError: p.NOT_IN_LOG,
    BusyError: p.BUSY,
    LedgerError: p.LEDGER,
    ApiKeyError: p.FORBIDDEN,
}
# The catalogue's look-up errors name no field of their own; this is the request field that carried the name.
_FIELD_OF = {le.UnknownLicenceTypeError: "type_code", le.UnknownDepartmentError: "issuer"}


def problem_for(exc: Exception) -> tuple[ProblemType, dict[str, Any]] | None:
    """The registered problem and extension members for a domain error, or None if it is not a known kind."""
    for cls in type(exc).__mro__:
        problem = DOMAIN_PROBLEMS.get(cls)
        if problem is not None:
            extensions: dict[str, Any] = {}
            if isinstance(exc, le.InvalidFieldError):
                extensions["field"] = exc.field
                extensions["errors"] = _field_errors(exc)
            if isinstance(exc, NoUsableTokenKeyError):
                extensions["issuer"] = exc.issuer
            if isinstance(exc, le.HolderAlreadyHoldsError):
                extensions["existing"] = exc.existing
            for kind, field in _FIELD_OF.items():
                if isinstance(exc, kind):
                    extensions["field"] = field
            return problem, extensions
    return None


def _field_errors(exc: le.InvalidFieldError) -> list[dict[str, str]]:
    """Every bad field of a domain refusal, as the `errors` member a request validation problem has too."""
    errors = exc.errors if isinstance(exc, InvalidFieldsError) else (exc,)
    return [{"field": e.field, "message": e.reason} for e in errors]


def _context(request: Request) -> dict[str, Any]:
    return {"instance": request.url.path, "request_id": request_id_of(request.scope)}


def _field_name(loc: tuple[Any, ...]) -> str:
    """`("body", "fields", "address")` → `fields.address`; the location kind (body/query/path/header) is dropped."""
    parts = [str(x) for x in loc[1:]] if loc and loc[0] in {"body", "query", "path", "header", "cookie"} else loc
    name = ".".join(str(x) for x in parts) or str(loc[0] if loc else "body")
    # a bad member name (a key of `fields`) may itself hold control characters: never echo them raw
    return "".join(c if control_character(c) is None else f"\\u{ord(c):04x}" for c in name)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.problem, exc.detail, status=exc.status, headers=exc.headers, **_context(request), **exc.extensions
    )


# Errors about the body as a whole: FastAPI puts the JSON decoder's character offset after "body" (`("body", 5)`),
# and a body that is no object has the location `("body",)`; either must name `body`, never `5` or a member.
_WHOLE_BODY_TYPES = frozenset({"json_invalid", "model_attributes_type", "dict_type", "model_type"})


def _validation_error(error: dict[str, Any]) -> dict[str, str]:
    """One pydantic/FastAPI request error as `{"field", "message"}`, the body-level ones said plainly."""
    loc = tuple(error.get("loc", ()))
    kind = error.get("type")
    if loc[:1] == ("body",) and kind == "json_invalid":
        reason = str((error.get("ctx") or {}).get("error", "")) or "malformed"
        at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return {"field": "body", "message": f"the request body is not valid JSON ({reason}{at})"}
    if loc == ("body",) and kind in _WHOLE_BODY_TYPES:
        return {"field": "body", "message": "the request body must be a JSON object"}
    return {"field": _field_name(loc), "message": str(error.get("msg", ""))}


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [_validation_error(e) for e in exc.errors()]
    first = errors[0] if errors else {"field": "body", "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}"
    return problem_response(p.VALIDATION, detail, field=first["field"], errors=errors, **_context(request))


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why FastAPI could not decode a JSON body (it answers a bare 400 for these), or None for any other error."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return "the request body is not valid UTF-8 JSON"
    if isinstance(cause, RecursionError):
        return "the request body is not valid JSON (nested too deeply)"
    return None


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    unreadable = _unreadable_body(exc)
    if unreadable is not None:  # the same 422 as a body that is no JSON at all, naming `body`
        errors = [{"field": "body", "message": unreadable}]
        return problem_response(p.VALIDATION, f"body: {unreadable}", field="body", errors=errors, **_context(request))
    problem = p.http_problem(exc.status_code)
    headers = dict(exc.headers or {})
    return problem_response(problem, str(exc.detail), status=exc.status_code, headers=headers, **_context(request))


async def _on_domain(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, BusyError):
        return _busy(request, exc)
    found = problem_for(exc)
    if found is None:
        return await _on_unexpected(request, exc)
    problem, extensions = found
    return problem_response(problem, str(exc), **_context(request), **extensions)


def alarm(request: Request, exc: Exception) -> None:
    """Raise the integrity alarm: an error log line and the `trustledger_integrity_alarms` counter."""
    log.error("ALARM status unproven: %s", exc, extra={"request_id": request_id_of(request.scope)})
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.alarm("status_unproven")


async def _on_unproven(request: Request, exc: Exception) -> JSONResponse:
    """No verdict without proof: a table that contradicts the signed log is an alarm for the operator, and the
    client is told to come back (never a verdict the ledger cannot prove)."""
    alarm(request, exc)
    headers = {"Retry-After": str(_UNPROVEN_RETRY_AFTER)}
    return problem_response(p.STATUS_UNPROVEN, str(exc), headers=headers, **_context(request))


def _busy(request: Request, busy: BusyError) -> JSONResponse:
    log.warning("busy: %s", busy, extra={"request_id": request_id_of(request.scope), "path": request.url.path})
    headers = {"Retry-After": str(busy.retry_after)}
    return problem_response(p.BUSY, str(busy), headers=headers, **_context(request))


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # A database that could not give a connection or a lock in time, wherever the read was: retry, not a 500.
    busy = as_busy(exc)
    if busy is not None:
        return _busy(request, busy)
    log.error(
        "unhandled error", exc_info=exc, extra={"request_id": request_id_of(request.scope), "path": request.url.path}
    )
    return problem_response(p.INTERNAL, "internal error; quote the request id when reporting it", **_context(request))


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    for cls in (le.LicenceError, LedgerError, ApiKeyError, SealError):
        app.add_exception_handler(cls, _on_domain)
    app.add_exception_handler(StatusUnprovenError, _on_unproven)
    app.add_exception_handler(Exception, _on_unexpected)
