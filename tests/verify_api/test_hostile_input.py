"""Hostile values in every date, integer and string input of every route: a 4xx problem, never a 5xx — on both
databases (PostgreSQL refuses NUL in text, SQLite and PostgreSQL refuse integers beyond 64 bits).

The routes and their inputs come from the OpenAPI document itself, and each request starts from the sample request
of the access table (`test_roles.TABLE`), so a new route or parameter is walked without touching this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from tests.verify_api.conftest import DRIVING, Keys, client_for, driving_fields
from tests.verify_api.test_roles import TABLE
from trustledger.region import Region
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.schemas import LicenceOut
from verify_api.store import ApiKeyStore

HOSTILE_DATES = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "9999-12-31T00:00:00Z",
    "1899-12-31T23:59:59Z",
    "2201-01-01T08:00:00+08:00",
]
HOSTILE_INTS = ["9223372036854775808", "9223372036854775807", "-9223372036854775809", "1" + "0" * 40]
HOSTILE_TEXTS = ["\x00", "a\x00b", "张\u202e三", "\u2066x\u2069", "x\u200by", "tab\there", "\x7f", "\ufeff"]
ROLE_FOR = {(a.method, a.template.replace(":path", "")): a for a in TABLE}


def _keys(region: Region) -> Keys:
    store = ApiKeyStore(region.store.engine)
    now = region.clock()
    police = region.catalogue.department("zz-traffic-police").uscc
    amr = region.catalogue.department("ha-amr").uscc
    return Keys(
        issuer=store.create(Role.ISSUER, police, "police", now).key,
        other_issuer=store.create(Role.ISSUER, amr, "amr", now).key,
        verifier=store.create(Role.VERIFIER, "审批系统", "", now).key,
        auditor=store.create(Role.AUDITOR, "审计厅", "", now).key,
        operator=store.create(Role.OPERATOR, "ops", "", now).key,
    )


@pytest.fixture
def db_http(region_on_each_db: Region) -> Iterator[tuple[TestClient, Keys]]:
    with TestClient(create_app(region_on_each_db), raise_server_exceptions=False) as c:
        yield c, _keys(region_on_each_db)


def _kind(schema: dict[str, Any]) -> str | None:
    """ "date", "int" or "text" for a parameter or property schema (optional ones are `anyOf` with null)."""
    options = schema.get("anyOf", [schema])
    for option in options:
        if option.get("format") == "date-time":
            return "date"
    for option in options:
        if option.get("type") == "integer":
            return "int"
        if option.get("type") == "string" and "enum" not in option and "const" not in option:
            return "text"
    return None


def _values(kind: str) -> list[Any]:
    return {"date": HOSTILE_DATES, "int": HOSTILE_INTS, "text": HOSTILE_TEXTS}[kind]


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _path_values(template: str, path: str) -> dict[str, str]:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+)", re.escape(template))
    found = re.fullmatch(pattern, path)
    assert found is not None, (template, path)
    return found.groupdict()


def _variants(doc: dict[str, Any], template: str, op: dict[str, Any], sample: str) -> Iterator[tuple[str, str, Any]]:
    """(input name, path with query, body override) for each hostile value in each input of one operation."""
    split = urlsplit(sample)
    path_values = _path_values(template.replace(":path", ""), split.path)
    query = dict(parse_qsl(split.query))
    for param in op.get("parameters", []):
        kind = _kind(param.get("schema", {}))
        if kind is None or param["in"] not in ("path", "query"):
            continue
        for value in _values(kind):
            values, params = dict(path_values), dict(query)
            if param["in"] == "path":
                values[param["name"]] = quote(str(value), safe="")
            else:
                params[param["name"]] = value
            path = template.replace(":path", "").format(**values)
            yield param["name"], path + ("?" + urlencode(params) if params else ""), None
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is None:
        return
    for name, prop in _resolve(doc, body["schema"]).get("properties", {}).items():
        extra = prop.get("additionalProperties")
        kinds = [(k, False) for k in [_kind(prop)] if k] + ([("text", True), ("int", True)] if extra else [])
        for kind, nested in kinds:
            for value in _values(kind):
                override = {name: {"address": value if kind == "text" else int(value)}} if nested else {name: value}
                yield name, sample, override
        if extra:
            for key in HOSTILE_TEXTS:
                yield f"{name} key", sample, {name: {key: "x"}}


def _walk(http: TestClient, keys: Keys, licence: LicenceOut) -> tuple[list[str], set[str]]:
    """The requests that got a 5xx, and the (method, route, input) triples that were tried."""
    doc = http.get("/openapi.json").json()
    errors: list[str] = []
    tried: set[str] = set()
    for template, ops in doc["paths"].items():
        for method, op in ops.items():
            access = ROLE_FOR.get((method.upper(), template))
            if access is None:
                continue  # another capability's router (trust lists) has its own tests
            role = min(access.allowed - {"anonymous"} or {"anonymous"})
            key = keys.of(role)
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            base_body = access.body(licence)
            for name, path, override in _variants(doc, template, op, access.path(licence)):
                kwargs: dict[str, Any] = {"headers": headers}
                if override is not None:
                    kwargs["content"] = json.dumps({**(base_body or {}), **override})
                    kwargs["headers"] = {**headers, "Content-Type": "application/json"}
                elif base_body is not None:
                    kwargs["json"] = base_body
                response = http.request(method.upper(), path, **kwargs)
                tried.add(f"{method.upper()} {template} {name}")
                if response.status_code >= 500:
                    errors.append(f"{method.upper()} {template} {name}={override or path!r}: {response.status_code}")
    return errors, tried


def _licence(http: TestClient, keys: Keys) -> LicenceOut:
    return client_for(http, keys.issuer).issue(
        type_code=DRIVING,
        holder_id="410105199001010011",
        holder_name="王五",
        fields=driving_fields("410105199001010011"),
    )


def test_no_hostile_input_yields_a_server_error_on_either_database(db_http: tuple[TestClient, Keys]) -> None:
    http, keys = db_http
    errors, tried = _walk(http, keys, _licence(http, keys))
    assert errors == []
    for known in (
        "POST /v1/licences valid_from",
        "POST /v1/licences fields",
        "POST /v1/licences fields key",
        "GET /v1/licences expiring_before",
        "GET /v1/licences/{licence_id} licence_id",
        "GET /v1/licences/{licence_id}/history size",
        "GET /licences/{licence_id}/provenance size",
        "POST /v1/licences/{licence_id}/verify purpose",
        "GET /v1/log/leaves/{index} index",
    ):
        assert known in tried
    assert len(tried) >= 50


def test_out_of_range_times_are_422_naming_the_field(http: TestClient, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.issuer}"}
    body = {
        "type_code": DRIVING,
        "holder_id": "410105199001010011",
        "holder_name": "王五",
        "fields": driving_fields("410105199001010011"),
    }
    for when in HOSTILE_DATES:
        got = http.post("/v1/licences", json={**body, "valid_from": when, "valid_until": when}, headers=auth)
        assert got.status_code == 422, got.text
        problem = got.json()
        assert {e["field"] for e in problem["errors"]} == {"valid_from", "valid_until"}
    listed = http.get("/v1/licences", params={"expiring_before": "9999-12-31T23:59:59-14:00"}, headers=auth)
    assert listed.status_code == 422 and listed.json()["field"] == "expiring_before"
    edge = http.post("/v1/licences", json={**body, "valid_from": "2200-12-31T23:59:59Z"}, headers=auth)
    assert edge.status_code == 201, edge.text  # the last accepted instant; its derived end is six years on
    shown = http.get(edge.headers["Location"], headers=auth)
    assert shown.status_code == 200 and shown.json()["valid_until"].startswith("2206-12-31")
    assert http.get(f"/v/{edge.json()['token']}").status_code == 200  # the scan page of the far-future licence


def test_sizes_beyond_the_log_are_422_also_on_the_public_page(http: TestClient, keys: Keys) -> None:
    licence = _licence(http, keys)
    auth = {"Authorization": f"Bearer {keys.auditor}"}
    for size in HOSTILE_INTS:
        got = http.get(f"/v1/licences/{licence.id}/history", params={"size": size}, headers=auth)
        assert got.status_code == 422 and got.json()["field"] == "size"
        page = http.get(f"/licences/{licence.id}/provenance", params={"size": size, "token": licence.token})
        assert page.status_code == 422


def test_every_bad_field_is_listed_at_once(http: TestClient, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.issuer}"}
    fields = {**driving_fields(), "address": "花园路\x00号", "vehicle_class": "Z9"}
    body = {"type_code": DRIVING, "holder_id": "123", "holder_name": "王\u202e五", "fields": fields}
    got = http.post("/v1/licences", json=body, headers=auth)  # pydantic refuses the control characters
    assert got.status_code == 422
    assert {e["field"] for e in got.json()["errors"]} == {"holder_name", "fields.address"}
    del fields["address"]
    got = http.post("/v1/licences", json={**body, "holder_name": "王五"}, headers=auth)  # the domain refuses the rest
    problem = got.json()
    assert got.status_code == 422 and problem["type"].endswith("/invalid-field")
    assert problem["field"] == "holder_id"
    assert {e["field"] for e in problem["errors"]} == {"holder_id", "fields.address", "fields.vehicle_class"}


def _compromise_every_key_of(region: Region, uscc: str) -> None:
    for record in region.registry.keys_of(uscc):
        region.registry.compromise_key(record.kid, region.clock() - timedelta(minutes=1), "泄露")


def test_a_compromised_token_key_is_a_clear_503_until_rotation(http: TestClient, keys: Keys) -> None:
    licence = _licence(http, keys)
    region = http.app.state.region  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {keys.issuer}"}
    _compromise_every_key_of(region, licence.issuer)
    size = region.log.size()
    body = {
        "type_code": DRIVING,
        "holder_id": "410105199001010038",
        "holder_name": "王五",
        "fields": driving_fields("410105199001010038"),
    }
    attempts = [
        ("/v1/licences", body),
        (f"/v1/licences/{licence.id}/amend", {"changes": {"vehicle_class": "C2"}}),
    ]
    for path, payload in attempts:
        got = http.post(path, json=payload, headers=auth)
        assert got.status_code == 503, got.text
        problem = got.json()
        assert problem["type"].endswith("/no-usable-token-key") and problem["issuer"] == licence.issuer
        assert f"trustledger keys rotate {licence.issuer}" in problem["detail"]
    assert region.log.size() == size  # nothing half-written
    region.registry.rotate_token_key(licence.issuer)
    assert http.post("/v1/licences", json=body, headers=auth).status_code == 201


def test_control_characters_in_any_text_input_are_422_naming_the_field(http: TestClient, keys: Keys) -> None:
    licence = _licence(http, keys)
    auth = {"Authorization": f"Bearer {keys.issuer}"}
    for text in HOSTILE_TEXTS:
        for path, payload, field in [
            (f"/v1/licences/{licence.id}/amend", {"changes": {"address": f"花园路{text}"}}, "changes.address"),
            (f"/v1/licences/{licence.id}/amend", {"holder_name": f"王{text}"}, "holder_name"),
            (f"/v1/licences/{licence.id}/suspend", {"reason": f"核查{text}"}, "reason"),
            (f"/v1/licences/{licence.id}/revoke", {"reason": f"注销{text}"}, "reason"),
        ]:
            got = http.post(path, json=payload, headers=auth)
            assert got.status_code == 422 and got.json()["field"] == field, (text, got.text)
    assert http.get(f"/v1/licences/{licence.id}", headers=auth).json()["licence_version"] == 1
