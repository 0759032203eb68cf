"""What integrators generate clients from: stable operation ids, and each route's problems documented per status.

The operation ids are set explicitly on every route (`operation_id=`), never derived from a function name, so a
refactor cannot rename a generated client's method. `OPERATION_IDS` is the published list: a rename, a new route or
a removed one shows up in review as a change to it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import verify_api
from verify_api.problems import PROBLEM_MEDIA_TYPE, REGISTRY

OPERATION_ID = re.compile(r"[a-z][a-z]*(?:[A-Z][a-z0-9]*)*")  # lowerCamelCase: verifyLicence, getStatusProof
OPERATION_IDS = {
    ("GET", "/healthz"): "getHealth",
    ("GET", "/metrics"): "getMetrics",
    ("GET", "/checkpoint"): "getCheckpoint",
    ("GET", "/tile/entries/{path}"): "getEntryBundle",
    ("GET", "/tile/{level}/{path}"): "getHashTile",
    ("GET", "/v1/log/proof/inclusion"): "getInclusionProof",
    ("GET", "/v1/log/proof/consistency"): "getConsistencyProof",
    ("GET", "/v1/log/leaves/{index}"): "getLeaf",
    ("GET", "/v1/log/checkpoints/{size}"): "getCheckpointOfSize",
    ("POST", "/v1/licences"): "issueLicence",
    ("GET", "/v1/licences"): "listLicences",
    ("POST", "/v1/licences/{licence_id}/renew"): "renewLicence",
    ("POST", "/v1/licences/{licence_id}/amend"): "amendLicence",
    ("POST", "/v1/licences/{licence_id}/suspend"): "suspendLicence",
    ("POST", "/v1/licences/{licence_id}/reinstate"): "reinstateLicence",
    ("POST", "/v1/licences/{licence_id}/revoke"): "revokeLicence",
    ("GET", "/v1/licences/{licence_id}"): "getLicence",
    ("GET", "/v1/licences/{licence_id}/pdf"): "getLicencePdf",
    ("POST", "/v1/licences/{licence_id}/verify"): "verifyLicence",
    ("POST", "/v1/verify/token"): "checkToken",
    ("POST", "/v1/verify/pdf"): "checkPdf",
    ("GET", "/v1/public/verify"): "getPublicVerdict",
    ("GET", "/v/{token}"): "getScanPage",
    ("GET", "/v1/status/proof"): "getStatusProof",
    ("GET", "/v1/sealed-documents/{pdf_sha256}"): "getSealedDocument",
    ("GET", "/v1/licences/{licence_id}/history"): "getLicenceHistory",
    ("GET", "/licences/{licence_id}/provenance"): "getProvenancePage",
    ("GET", "/v1/trust-list"): "getTrustList",
    ("GET", "/v1/trust-list/{version}"): "getTrustListVersion",
    ("POST", "/add-checkpoint"): "addCheckpoint",
    ("GET", "/v1/federation/identity"): "getFederationIdentity",
    ("GET", "/v1/federation/peers"): "listFederationPeers",
    ("GET", "/v1/federation/alarms"): "listForkAlarms",
    ("GET", "/v1/anchors/{size}"): "getAnchors",
    ("POST", "/v1/federation/verify"): "verifyAnyRegion",
    ("GET", "/v1/federation/status"): "getFederationStatus",
    ("GET", "/v1/catalogue"): "getCatalogue",
    ("GET", "/v1/matters"): "listMatters",
    ("GET", "/v1/matters/{code}"): "getMatter",
    ("POST", "/v1/matters/{code}/licences"): "lookupMatterLicences",
}
# Which problems a route answers with, by status, at least (a route may document more). 401/403: an API key.
AUTHENTICATED = {
    "getMetrics",
    "issueLicence",
    "listLicences",
    "renewLicence",
    "amendLicence",
    "suspendLicence",
    "reinstateLicence",
    "revokeLicence",
    "getLicence",
    "getLicencePdf",
    "verifyLicence",
    "checkToken",
    "checkPdf",
    "getLicenceHistory",
    "verifyAnyRegion",
    "lookupMatterLicences",
}
MUST_DOCUMENT = {
    "lookupMatterLicences": {"401", "403", "404", "409", "413", "422", "503"},
    "verifyLicence": {"401", "403", "404", "409", "413", "422", "503"},
    "verifyAnyRegion": {"401", "403", "409", "413", "422", "503"},
    "getLicenceHistory": {"401", "403", "404", "422", "503"},
    "getStatusProof": {"404", "422", "429", "503"},
    "getSealedDocument": {"422", "503"},
    "getPublicVerdict": {"422", "429", "503"},
    "getProvenancePage": {"429"},
    "issueLicence": {"401", "403", "409", "413", "422", "503"},
    "renewLicence": {"404", "409", "422"},
    "amendLicence": {"404", "409", "410", "422"},
    "suspendLicence": {"404", "409", "422"},
    "reinstateLicence": {"404", "409", "422"},
    "revokeLicence": {"404", "409", "422"},
    "getLicencePdf": {"404", "409", "503"},
    "checkPdf": {"413", "415"},
    "getCheckpoint": {"503"},
    "getHealth": {"503"},
}
PROTOCOL = {"addCheckpoint"}  # C2SP tlog-witness fixes its own answers (a 409 of `text/x.tlog.size`)


@pytest.fixture
def operations(http: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the published document, by (method, path)."""
    doc = http.get("/openapi.json").json()
    return {(m.upper(), path): op for path, ops in doc["paths"].items() for m, op in ops.items()}


def _api_routes() -> list[APIRoute]:
    """Every documented route of every `verify_api/*_routes.py` module (a new module is found, not listed)."""
    modules = [importlib.import_module(f"verify_api.{m.name}") for m in pkgutil.iter_modules(verify_api.__path__)]
    routers = [r for m in modules if isinstance(r := getattr(m, "router", None), APIRouter)]
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute) and r.include_in_schema]


def test_every_operation_has_a_stable_readable_id(operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    derived = sorted(f"{sorted(r.methods or ())} {r.path}" for r in _api_routes() if r.operation_id is None)
    assert not derived, f"set operation_id= explicitly (a derived id changes with the function's name): {derived}"
    ids = {key: op.get("operationId") for key, op in operations.items()}
    bad = sorted(i for i in ids.values() if i is not None and OPERATION_ID.fullmatch(i) is None)
    assert not bad, f"operation ids must be lowerCamelCase: {bad}"
    assert len(set(ids.values())) == len(ids), "operation ids must be unique"
    assert ids == OPERATION_IDS  # the published list: a rename here breaks generated clients


def test_each_route_documents_its_problems_per_status(operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    by_id = {op["operationId"]: (key, op) for key, op in operations.items() if op.get("operationId")}
    for op_id, ((method, _), op) in by_id.items():
        statuses = {s for s in op["responses"] if s[0] in "45" and s.isdigit()}
        expected = set(MUST_DOCUMENT.get(op_id, set())) | ({"401", "403"} if op_id in AUTHENTICATED else set())
        if method == "POST" and "requestBody" in op and op_id not in PROTOCOL:
            expected |= {"413"} | ({"422"} if op_id != "checkPdf" else set())
        assert expected <= statuses, (op_id, sorted(expected - statuses))
        if op_id in PROTOCOL:
            continue
        for status in statuses:
            response = op["responses"][status]
            if list(response.get("content", {})) == ["text/html"]:
                continue  # a page route's own error page
            assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (op_id, status)
            assert response["content"][PROBLEM_MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}
            named = re.findall(r"`([a-z0-9-]+)`", response["description"])
            if named:  # documented by `problem_responses`: every slug named is a problem of exactly this status
                assert all(REGISTRY[slug].status == int(status) for slug in named), (op_id, status, named)


def test_problem_descriptions_name_the_types_to_switch_on(operations: dict[tuple[str, str], dict[str, Any]]) -> None:
    verify = operations[("POST", "/v1/licences/{licence_id}/verify")]["responses"]
    assert "`licence-not-found`" in verify["404"]["description"]
    assert "`unauthenticated`" in verify["401"]["description"] and "`forbidden`" in verify["403"]["description"]
    assert "`validation`" in verify["422"]["description"] and "`busy`" in verify["503"]["description"]
    history = operations[("GET", "/v1/licences/{licence_id}/history")]["responses"]
    assert "`checkpoint-not-found`" in history["404"]["description"]
