"""Every endpoint × every role (and anonymous) against one declared access table.

The table is the access policy in one place. The test fails if a route of ours is missing from it (a new endpoint
must declare who may call it) and if any route admits or refuses a role differently from the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from tests.verify_api.conftest import DRIVING, Keys, driving_fields
from verify_api import (
    anchor_routes,
    audit_routes,
    catalogue_routes,
    licence_routes,
    log_routes,
    matter_routes,
    ops_routes,
    public_routes,
    status_routes,
    trust_routes,
    verify_routes,
)
from verify_api.schemas import LicenceOut

ANY = frozenset({"anonymous", "issuer", "verifier", "auditor", "operator"})
ROLES = sorted(ANY)


@dataclass(frozen=True)
class Access:
    """Who may call one endpoint, and a sample request for it."""

    method: str
    template: str
    allowed: frozenset[str]
    path: Callable[[LicenceOut], str]
    body: Callable[[LicenceOut], Any] = lambda _: None
    content: bytes | None = None


def _issue_body(_: LicenceOut) -> dict[str, Any]:
    return {
        "type_code": DRIVING,
        "holder_id": "410105199003071234"[:17] + "X",
        "holder_name": "李四",
        "fields": driving_fields("410105199003071234"[:17] + "X"),
    }


def _fixed(path: str) -> Callable[[LicenceOut], str]:
    return lambda _: path


def _lic(suffix: str = "") -> Callable[[LicenceOut], str]:
    return lambda lic: f"/v1/licences/{lic.id}{suffix}"


VERIFY_BODY = {"matter_code": "410100-001", "purpose": "开办企业", "consent": "授权书 A-1"}
TABLE: list[Access] = [
    # operations and the framework's own pages
    Access("GET", "/healthz", ANY, _fixed("/healthz")),
    Access("GET", "/metrics", frozenset({"operator"}), _fixed("/metrics")),
    Access("GET", "/openapi.json", ANY, _fixed("/openapi.json")),
    Access("GET", "/docs", ANY, _fixed("/docs")),
    Access("GET", "/docs/oauth2-redirect", ANY, _fixed("/docs/oauth2-redirect")),
    Access("GET", "/redoc", ANY, _fixed("/redoc")),
    # the log read API is public (transparency)
    Access("GET", "/", ANY, _fixed("/")),
    Access("GET", "/checkpoint", ANY, _fixed("/checkpoint")),
    Access("GET", "/tile/entries/{path:path}", ANY, _fixed("/tile/entries/000.p/1")),
    Access("GET", "/tile/{level}/{path:path}", ANY, _fixed("/tile/0/000.p/1")),
    Access("GET", "/v1/log/proof/inclusion", ANY, _fixed("/v1/log/proof/inclusion?index=0&tree_size=2")),
    Access("GET", "/v1/log/proof/consistency", ANY, _fixed("/v1/log/proof/consistency?first=1&second=2")),
    Access("GET", "/v1/log/leaves/{index}", ANY, _fixed("/v1/log/leaves/0")),
    Access("GET", "/v1/log/checkpoints/{size}", ANY, _fixed("/v1/log/checkpoints/1")),
    # the licence catalogue is public (integrators read type codes, keys, fields and departments from it)
    Access("GET", "/v1/catalogue", ANY, _fixed("/v1/catalogue")),
    # departments
    Access("POST", "/v1/licences", frozenset({"issuer"}), _fixed("/v1/licences"), _issue_body),
    Access("GET", "/v1/licences", frozenset({"issuer", "auditor"}), lambda lic: f"/v1/licences?issuer={lic.issuer}"),
    Access("GET", "/v1/licences/{licence_id}", frozenset({"issuer", "auditor"}), _lic()),
    Access(
        "POST",
        "/v1/licences/{licence_id}/amend",
        frozenset({"issuer"}),
        _lic("/amend"),
        lambda _: {"changes": {"vehicle_class": "C2"}},
    ),
    Access("POST", "/v1/licences/{licence_id}/renew", frozenset({"issuer"}), _lic("/renew"), lambda _: {}),
    Access(
        "POST",
        "/v1/licences/{licence_id}/suspend",
        frozenset({"issuer"}),
        _lic("/suspend"),
        lambda _: {"reason": "核查中"},
    ),
    Access(
        "POST",
        "/v1/licences/{licence_id}/reinstate",
        frozenset({"issuer"}),
        _lic("/reinstate"),
        lambda _: {"reason": "核查完毕"},
    ),
    Access("GET", "/v1/licences/{licence_id}/pdf", frozenset({"issuer"}), _lic("/pdf")),
    # approval systems (auditors may check tokens and PDFs, but only approval systems record uses)
    Access("POST", "/v1/licences/{licence_id}/verify", frozenset({"verifier"}), _lic("/verify"), lambda _: VERIFY_BODY),
    Access(
        "POST",
        "/v1/verify/token",
        frozenset({"verifier", "auditor"}),
        _fixed("/v1/verify/token"),
        lambda lic: {"token": lic.token},
    ),
    Access(
        "POST",
        "/v1/verify/pdf",
        frozenset({"verifier", "auditor"}),
        _fixed("/v1/verify/pdf"),
        content=b"%PDF-1.7\n%%EOF\n",
    ),
    # auditors (and departments for their own types)
    Access("GET", "/v1/licences/{licence_id}/history", frozenset({"issuer", "auditor"}), _lic("/history")),
    # public, rate-limited; the provenance page is public only with the licence's token
    Access("GET", "/v1/public/verify", ANY, lambda lic: f"/v1/public/verify?token={lic.token}"),
    # a citizen's licence: public only to its possessor, with the token (test_status_disclosure)
    Access(
        "GET", "/v1/status/proof", ANY, lambda lic: f"/v1/status/proof?identifier={lic.identifier}&token={lic.token}"
    ),
    # public like the log read API: where the DocumentSealed of a PDF is (peers prove our sealed PDFs with it)
    Access(
        "GET",
        "/v1/sealed-documents/{pdf_sha256}",
        ANY,
        lambda lic: f"/v1/sealed-documents/{'0' * 64}?identifier={lic.identifier}",
    ),
    Access("GET", "/v/{token}", ANY, lambda lic: f"/v/{lic.token}"),
    Access(
        "GET", "/licences/{licence_id}/provenance", ANY, lambda lic: f"/licences/{lic.id}/provenance?token={lic.token}"
    ),
    # federation (anchor_routes): public evidence and the witness; verifying any region's licence is a recorded use
    Access("POST", "/add-checkpoint", ANY, _fixed("/add-checkpoint")),
    Access("GET", "/v1/federation/identity", ANY, _fixed("/v1/federation/identity")),
    Access("GET", "/v1/federation/peers", ANY, _fixed("/v1/federation/peers")),
    Access("GET", "/v1/federation/alarms", ANY, _fixed("/v1/federation/alarms")),
    Access("GET", "/v1/anchors/{size}", ANY, _fixed("/v1/anchors/1")),
    Access("GET", "/v1/federation/status", ANY, lambda lic: f"/v1/federation/status?token={lic.token}"),
    Access(
        "POST",
        "/v1/federation/verify",
        frozenset({"verifier"}),
        _fixed("/v1/federation/verify"),
        lambda lic: {"token": lic.token, **VERIFY_BODY},
    ),
    # the matter catalogue is public; a licence-free lookup for a matter is a recorded use (docs/matters.md)
    Access("GET", "/v1/matters", ANY, _fixed("/v1/matters")),
    Access("GET", "/v1/matters/{code}", ANY, _fixed("/v1/matters/410100-JSZHL-001")),
    Access(
        "POST",
        "/v1/matters/{code}/licences",
        frozenset({"verifier"}),
        _fixed("/v1/matters/410100-JSZHL-001/licences"),
        lambda _: {"holder_id": "11010519491231002X", "consent": "授权书 A-1", "purpose": "驾驶证换领"},
    ),
    # last: revocation is final
    Access(
        "POST", "/v1/licences/{licence_id}/revoke", frozenset({"issuer"}), _lic("/revoke"), lambda _: {"reason": "注销"}
    ),
]


def _methods(routes: list[Any]) -> set[tuple[str, str]]:
    return {
        (method, route.path)
        for route in routes
        if isinstance(route, APIRoute | Route)
        for method in (route.methods or set()) - {"HEAD"}
    }


def test_every_route_is_in_the_table(http: TestClient) -> None:
    ours = _methods(http.app.routes)  # type: ignore[attr-defined]  # the framework's own pages
    modules = (ops_routes, log_routes, licence_routes, verify_routes, public_routes, status_routes, audit_routes)
    for module in (*modules, anchor_routes, catalogue_routes, matter_routes):
        ours |= _methods(module.router.routes)
    declared = {(a.method, a.template) for a in TABLE}
    assert ours == declared
    # and nothing in the published schema escapes the table (other capabilities' routers aside)
    others = _methods(trust_routes.router.routes)
    schema = http.get("/openapi.json").json()["paths"]
    published = {(m.upper(), path) for path, ops in schema.items() for m in ops}
    assert published - others <= {(m, p.replace(":path", "")) for m, p in declared}


def test_table_has_no_duplicates() -> None:
    assert len({(a.method, a.template) for a in TABLE}) == len(TABLE)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_is_admitted_or_refused_as_declared(
    http: TestClient, keys: Keys, licence: LicenceOut, role: str
) -> None:
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {keys.of(role)}"}
    wrong = []
    for access in TABLE:
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        body = access.body(licence)
        if body is not None:
            kwargs["json"] = body
        if access.content is not None:
            kwargs["content"] = access.content
            kwargs["headers"]["Content-Type"] = "application/pdf"
        response = http.request(access.method, access.path(licence), **kwargs)
        status = response.status_code
        if role in access.allowed:
            ok = status not in (401, 403) and status < 500
        else:
            ok = status == (401 if role == "anonymous" else 403)
            ok = ok and response.headers["content-type"].startswith("application/problem+json")
        if not ok:
            wrong.append(f"{access.method} {access.template} as {role}: {status} {response.text[:120]}")
    assert wrong == []


def test_unknown_or_malformed_keys_are_401(http: TestClient, licence: LicenceOut) -> None:
    for key in ("tlk_000000000000_" + "A" * 43, "not-a-key", "tlk_" + "x" * 200):
        response = http.get(f"/v1/licences/{licence.id}", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 401
        assert response.json()["type"].endswith("/unauthenticated")
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_key_stops_at_once(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    from verify_api.apikeys import split_key
    from verify_api.store import ApiKeyStore

    headers = {"Authorization": f"Bearer {keys.auditor}"}
    assert http.get(f"/v1/licences/{licence.id}", headers=headers).status_code == 200
    region = http.app.state.region  # type: ignore[attr-defined]
    key_id = split_key(keys.auditor)
    assert key_id is not None
    ApiKeyStore(region.store.engine).revoke(key_id, region.clock())
    assert http.get(f"/v1/licences/{licence.id}", headers=headers).status_code == 401


def test_a_key_with_a_wrong_secret_is_refused(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    forged = keys.auditor[:-1] + ("A" if keys.auditor[-1] != "A" else "B")
    response = http.get(f"/v1/licences/{licence.id}", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
