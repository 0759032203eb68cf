"""Issuing departments through the typed client: the lifecycle, idempotency, field errors, scoping, problems."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.verify_api.conftest import DRIVING, Citizen, Keys, client_for, driving_fields
from verify_api.client import ApiProblem
from verify_api.schemas import LicenceOut, SealedEvent

P = "https://trustledger.example/problems/"


def _problem(exc: pytest.ExceptionInfo[ApiProblem], slug: str, status: int) -> ApiProblem:
    assert exc.value.type == P + slug, exc.value.problem
    assert exc.value.status == status
    return exc.value


def test_issue_answers_201_with_location_and_no_personal_data(http: TestClient, keys: Keys, citizen: Citizen) -> None:
    body = {"type_code": DRIVING, "holder_id": citizen.id_number, "holder_name": citizen.name}
    response = http.post(
        "/v1/licences", json=body | {"fields": driving_fields()}, headers={"Authorization": f"Bearer {keys.issuer}"}
    )
    assert response.status_code == 201
    out = LicenceOut.model_validate(response.json())
    assert response.headers["location"] == f"/v1/licences/{out.id}"
    assert out.status == "valid" and out.licence_version == 1 and out.lifecycle == "active"
    assert out.qr_url == f"https://verify.ha.gov.example/v/{out.token}"
    assert citizen.id_number not in response.text and citizen.name not in response.text
    assert "address" not in out.fields  # personal fields are sealed, never answered
    assert out.fields["vehicle_class"] == "C1"


def test_bad_input_is_422_naming_the_field(http: TestClient, keys: Keys, citizen: Citizen) -> None:
    c = client_for(http, keys.issuer)
    bad_id = citizen.id_number[:17] + ("0" if citizen.id_number[17] != "0" else "1")
    with pytest.raises(ApiProblem) as exc:
        c.issue(type_code=DRIVING, holder_id=bad_id, holder_name=citizen.name, fields=driving_fields())
    assert _problem(exc, "invalid-field", 422).field == "holder_id"
    with pytest.raises(ApiProblem) as exc:
        c.issue(type_code=DRIVING, holder_id=citizen.id_number, holder_name=citizen.name, fields={"colour": "red"})
    assert _problem(exc, "invalid-field", 422).field == "fields.colour"
    with pytest.raises(ApiProblem) as exc:
        c.issue(type_code="no-such-type", holder_id=citizen.id_number, holder_name=citizen.name)
    assert _problem(exc, "invalid-field", 422).field == "type_code"


def test_request_validation_is_422_problem_naming_the_field(http: TestClient, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.issuer}"}
    cases = [
        ({"type_code": DRIVING, "holder_id": "x"}, "holder_name"),
        ({"type_code": DRIVING, "holder_id": "x", "holder_name": "李", "colour": 1}, "colour"),
        (
            {"type_code": DRIVING, "holder_id": "x", "holder_name": "李", "valid_from": "2026-01-01T00:00:00"},
            "valid_from",
        ),
        ({"type_code": DRIVING, "holder_id": "x", "holder_name": "李", "fields": {"a": [1]}}, "fields.a"),
    ]
    for body, field in cases:
        response = http.post("/v1/licences", json=body, headers=auth)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["type"] == P + "validation"
        assert problem["field"].startswith(field), problem
    broken = http.post("/v1/licences", content=b"{not json", headers=auth | {"Content-Type": "application/json"})
    assert broken.status_code == 422 and broken.json()["type"] == P + "validation"


def test_a_department_acts_only_on_its_types(
    http: TestClient, keys: Keys, citizen: Citizen, licence: LicenceOut
) -> None:
    amr = client_for(http, keys.other_issuer)
    with pytest.raises(ApiProblem) as exc:
        amr.issue(type_code=DRIVING, holder_id=citizen.id_number, holder_name=citizen.name, fields=driving_fields())
    _problem(exc, "unauthorised-department", 403)
    for call in (
        lambda: amr.suspend(licence.id, reason="x"),
        lambda: amr.get(licence.id),
        lambda: amr.history(licence.id),
        lambda: amr.list(issuer=licence.issuer),
    ):
        with pytest.raises(ApiProblem) as exc:
            call()
        assert exc.value.status == 403
    assert amr.list(holder=citizen.id_number).items == []  # another department's licences are filtered out


def test_idempotency_key_replays_and_refuses_a_different_request(
    http: TestClient, keys: Keys, citizen: Citizen
) -> None:
    c = client_for(http, keys.issuer)
    region = http.app.state.region  # type: ignore[attr-defined]
    args = {"type_code": DRIVING, "holder_id": citizen.id_number, "holder_name": citizen.name}
    first = c.issue(**args, fields=driving_fields(), idempotency_key="req-1")  # type: ignore[arg-type]
    size = region.log.size()
    again = c.issue(**args, fields=driving_fields(), idempotency_key="req-1")  # type: ignore[arg-type]
    assert again.id == first.id and region.log.size() == size
    with pytest.raises(ApiProblem) as exc:
        c.issue(**args, fields=driving_fields() | {"vehicle_class": "A1"}, idempotency_key="req-1")  # type: ignore[arg-type]
    _problem(exc, "idempotency-conflict", 422)
    s1 = c.suspend(first.id, reason="核查", idempotency_key="s-1")
    s2 = c.suspend(first.id, reason="核查", idempotency_key="s-1")
    assert s1 == s2 and s2.status == "suspended"
    bad = http.post(
        f"/v1/licences/{first.id}/reinstate",
        json={},
        headers={"Authorization": f"Bearer {keys.issuer}", "Idempotency-Key": "bad key with spaces"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "Idempotency-Key"


def test_lifecycle_and_its_conflicts(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    c = client_for(http, keys.issuer)
    suspended = c.suspend(licence.id, reason="违法记分满12分")
    assert suspended.status == "suspended" and suspended.last_leaf > licence.last_leaf
    with pytest.raises(ApiProblem) as exc:
        c.suspend(licence.id, reason="again")
    assert exc.value.status == 409
    assert c.reinstate(licence.id, reason="学习考试合格").status == "valid"
    with pytest.raises(ApiProblem) as exc:
        c.reinstate(licence.id)
    _problem(exc, "not-suspended", 409)
    amended = c.amend(licence.id, changes={"vehicle_class": "B1"})
    assert amended.licence_version == 2 and amended.token != licence.token and amended.fields["vehicle_class"] == "B1"
    assert amended.identifier.split(".")[-2] == "002"
    with pytest.raises(ApiProblem) as exc:
        c.amend(licence.id, changes={"vehicle_class": "B1"})
    _problem(exc, "nothing-to-amend", 409)
    assert c.get(amended.identifier).id == licence.id  # by identifier too
    assert c.revoke(licence.id, reason="注销", kind="voluntary").status == "revoked"
    with pytest.raises(ApiProblem) as exc:
        c.renew(licence.id)
    _problem(exc, "licence-revoked", 409)


def test_renewal_inside_the_window(http: TestClient, keys: Keys, licence: LicenceOut, api_clock: FakeClock) -> None:
    c = client_for(http, keys.issuer)
    with pytest.raises(ApiProblem) as exc:
        c.renew(licence.id)
    _problem(exc, "renewal-not-allowed", 409)
    assert licence.valid_until is not None
    api_clock.now = licence.valid_until - timedelta(days=30)
    renewed = c.renew(licence.id)
    assert renewed.licence_version == 2 and renewed.valid_until is not None
    assert renewed.valid_until > licence.valid_until


def test_not_found_and_listing(http: TestClient, keys: Keys, licence: LicenceOut, citizen: Citizen) -> None:
    auditor = client_for(http, keys.auditor)
    with pytest.raises(ApiProblem) as exc:
        auditor.get("00000000-0000-0000-0000-000000000000")
    _problem(exc, "licence-not-found", 404)
    with pytest.raises(ApiProblem) as exc:
        auditor.get("1.2.156.3005.2.nothing")
    _problem(exc, "licence-not-found", 404)
    assert [x.id for x in auditor.list(holder=citizen.id_number).items] == [licence.id]
    page = auditor.list(issuer=licence.issuer, limit=1)
    assert [x.id for x in page.items] == [licence.id] and page.next_after == licence.id
    assert auditor.list(issuer=licence.issuer, after=page.next_after).items == []
    assert licence.valid_until is not None
    soon = auditor.list(expiring_before=licence.valid_until + timedelta(days=1))
    assert [x.id for x in soon.items] == [licence.id]
    assert auditor.list(expiring_before=licence.valid_until - timedelta(days=1)).items == []
    for bad in ({}, {"holder": citizen.id_number, "issuer": licence.issuer}):
        response = http.get("/v1/licences", params=bad, headers={"Authorization": f"Bearer {keys.auditor}"})
        assert response.status_code == 422 and response.json()["type"] == P + "validation"
    with pytest.raises(ApiProblem) as exc:
        auditor.list(holder="123")
    assert exc.value.status == 422


def test_sealed_pdf_is_recorded_and_checks_out(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    response = http.get(f"/v1/licences/{licence.id}/pdf", headers={"Authorization": f"Bearer {keys.issuer}"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    pdf = response.content
    assert pdf.startswith(b"%PDF-")
    sealed_leaf = int(response.headers["x-leaf-index"])
    history = client_for(http, keys.auditor).history(licence.id)
    assert [(e.kind, e.leaf_index) for e in history.events][-1] == ("sealed", sealed_leaf)
    sealed = history.events[-1].event
    assert isinstance(sealed, SealedEvent) and sealed.pdf_sha256 == response.headers["x-content-sha256"]
    assert sealed.licence_version == 1
    checker = client_for(http, keys.verifier)
    good = checker.check_pdf(pdf)
    assert (good.verdict, good.identifier, good.sealed_version) == ("valid", licence.identifier, 1)
    assert all(c.ok for c in good.checks.values()), good.checks
    assert good.licence is not None and good.licence.fields["vehicle_class"] == "C1"
    assert good.seal is not None and good.seal.signer is not None and "交通管理" in good.seal.signer
    tampered = bytearray(pdf)
    tampered[len(pdf) // 3] ^= 0x20
    bad = checker.check_pdf(bytes(tampered))
    assert bad.verdict == "invalid" and not bad.valid
    junk = checker.check_pdf(b"%PDF-1.7 this is not really a PDF")
    assert junk.verdict == "invalid" and junk.checks["intact"].ok is False
    client_for(http, keys.issuer).suspend(licence.id, reason="核查")
    later = checker.check_pdf(pdf)
    assert later.verdict == "invalid" and later.checks["licence_status"].ok is False
    assert later.licence is not None and later.licence.fields == {}  # nothing disclosed for a failed check
    with pytest.raises(ApiProblem) as exc:
        client_for(http, keys.other_issuer).pdf(licence.id)
    _problem(exc, "unauthorised-department", 403)
