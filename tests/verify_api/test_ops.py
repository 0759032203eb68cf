"""Operations: health with a database check, Prometheus metrics, request ids, JSON access logs, problem+json
for every framework error, and no 500 leaking for unexpected errors."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from tests.verify_api.conftest import Keys
from trustledger.region import Region
from verify_api import ops_routes
from verify_api.app import create_app
from verify_api.middleware import JsonFormatter
from verify_api.problems import REGISTRY
from verify_api.schemas import LicenceOut

P = "https://trustledger.example/problems/"


def test_healthz_checks_the_database(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    body = http.get("/healthz").json()
    assert body == {"status": "ok", "database": "ok", "region": "410000", "origin": "ledger.ha.gov.example/log"}

    def down(_: object) -> None:
        raise ConnectionError("database gone")

    monkeypatch.setattr(ops_routes, "ping", down)
    response = http.get("/healthz")
    assert response.status_code == 503 and response.json()["type"] == P + "unavailable"


def test_metrics_by_route_template_and_log_gauges(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    http.get(f"/v1/licences/{licence.id}", headers={"Authorization": f"Bearer {keys.auditor}"})
    http.get("/no/such/path")
    text = http.get("/metrics", headers={"Authorization": f"Bearer {keys.operator}"}).text
    assert 'route="/v1/licences/{licence_id}"' in text and f"/v1/licences/{licence.id}" not in text
    assert 'route="<unmatched>"' in text and 'status="404"' in text
    assert "trustledger_http_request_duration_seconds_bucket" in text
    region: Region = http.app.state.region  # type: ignore[attr-defined]
    size = [ln for ln in text.splitlines() if ln.startswith("trustledger_log_size ")]
    assert size == [f"trustledger_log_size {float(region.log.size())}"]
    age = [ln for ln in text.splitlines() if ln.startswith("trustledger_checkpoint_age_seconds ")]
    assert len(age) == 1 and float(age[0].split()[1]) >= 0


def test_request_ids_in_and_out(http: TestClient) -> None:
    given = http.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = http.get("/healthz", headers={"X-Request-Id": "bad id\twith spaces"})
    assert made.headers["x-request-id"] != "bad id\twith spaces" and len(made.headers["x-request-id"]) == 32
    problem = http.get("/nowhere", headers={"X-Request-Id": "req-9"})
    assert problem.headers["x-request-id"] == "req-9" and problem.json()["request_id"] == "req-9"


def test_access_log_is_structured_and_has_no_query(
    http: TestClient, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="verify_api.access"):
        http.get(
            "/v1/licences",
            params={"holder": "410105199003071234"},
            headers={"Authorization": f"Bearer {keys.auditor}", "X-Request-Id": "log-1"},
        )
    records = [r for r in caplog.records if r.name == "verify_api.access" and r.__dict__.get("request_id") == "log-1"]
    assert len(records) == 1
    line = json.loads(JsonFormatter().format(records[0]))
    assert line["route"] == "/v1/licences" and line["path"] == "/v1/licences" and line["role"] == "auditor"
    assert line["status"] in (200, 422) and line["duration_ms"] >= 0 and line["msg"] == "request"
    assert "410105199003071234" not in json.dumps(line)


def test_framework_errors_are_problems(http: TestClient) -> None:
    missing = http.get("/v1/nothing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["type"] == P + "not-found"
    wrong_method = http.delete("/healthz")
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == P + "method-not-allowed"
    bad_length = http.post("/v1/verify/token", content=b"{}", headers={"Content-Length": "999999999"})
    assert bad_length.status_code == 413


def test_unexpected_errors_are_a_500_problem_with_the_request_id(region: Region) -> None:
    app = create_app(region)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with TestClient(app, raise_server_exceptions=False) as c:
        response = c.get("/boom", headers={"X-Request-Id": "r-500"})
    assert response.status_code == 500
    body = response.json()
    assert body["type"] == P + "internal" and body["request_id"] == "r-500"
    assert "secret internals" not in response.text


def test_problem_registry_is_stable_and_openapi_documents_problems(http: TestClient) -> None:
    assert len({p.uri for p in REGISTRY.values()}) == len(REGISTRY)
    assert all(p.uri == P + slug for slug, p in REGISTRY.items())
    schema = http.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
            if path.startswith(("/v1/licences", "/v1/verify", "/v1/public")):
                assert "4XX" in errors, (method, path)
            for status, response in errors.items():
                page = path.startswith(("/v/", "/licences/")) and status in ("400", "404")  # pages answer pages
                expected = ["text/html"] if page else ["application/problem+json"]
                assert list(response["content"]) == expected, (method, path, status)
    assert "HTTPValidationError" not in schema["components"]["schemas"]
