"""Who is calling: API-key authentication and role checks as FastAPI dependencies (`Annotated` aliases).

A route states the roles it admits by the alias it takes (`IssuerKey`, `VerifierKey`…). A missing key is 401, a
key of the wrong role 403; an unknown, malformed or revoked key is 401 whatever the route (nothing is disclosed to
it). Scoping within a role (an issuer acts only on its own licences) is checked in the routes and the service.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from verify_api.apikeys import Principal, Role, matches
from verify_api.problems import FORBIDDEN, UNAUTHENTICATED, ProblemError
from verify_api.store import ApiKeyStore

_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer tlk_…` (see `trustledger apikey`)")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="trustledger"'}


def optional_principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal | None:
    """The caller named by a valid API key, None without one; 401 for a key that does not authenticate."""
    if credentials is None:
        return None
    store: ApiKeyStore = request.app.state.api_keys
    presented = credentials.credentials
    record = store.lookup(presented)
    if record is None or not matches(record, presented):
        raise ProblemError(
            UNAUTHENTICATED,
            "the API key is unknown, malformed or revoked",
            headers={"WWW-Authenticate": 'Bearer realm="trustledger", error="invalid_token"'},
        )
    principal = record.as_principal()
    request.state.principal = principal  # for the access log
    return principal


OptionalKey = Annotated[Principal | None, Depends(optional_principal)]


def require(*roles: Role) -> Callable[[Principal | None], Principal]:
    """A dependency admitting callers whose key has one of `roles`."""
    wanted = " or ".join(r.value for r in roles)

    def dependency(principal: OptionalKey) -> Principal:
        if principal is None:
            raise ProblemError(UNAUTHENTICATED, f"an API key of role {wanted} is required", headers=_CHALLENGE)
        if principal.role not in roles:
            raise ProblemError(FORBIDDEN, f"a {principal.role.value} key may not do this; it needs role {wanted}")
        return principal

    dependency.__name__ = f"require_{'_or_'.join(r.value for r in roles)}"
    return dependency


IssuerKey = Annotated[Principal, Depends(require(Role.ISSUER))]
"""An issuing department's key; its principal is the department's USCC."""
VerifierKey = Annotated[Principal, Depends(require(Role.VERIFIER))]
"""An approval system's key; its principal is the system's name."""
CheckerKey = Annotated[Principal, Depends(require(Role.VERIFIER, Role.AUDITOR))]
"""Checking tokens and PDFs, without recording a use: approval systems and auditors."""
ReaderKey = Annotated[Principal, Depends(require(Role.ISSUER, Role.AUDITOR))]
"""Reading licences and their history: auditors (all), issuers (their own)."""
OperatorKey = Annotated[Principal, Depends(require(Role.OPERATOR))]
"""The region operator (metrics)."""
