"""The API's answers to fields contradicting the ID number, and to a second licence of a one-per-holder type."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from demo.synthetic import SyntheticHolders
from tests.verify_api.conftest import DRIVING, Keys, driving_fields

P = "https://trustledger.example/problems/"


def _post(http: TestClient, keys: Keys, body: dict[str, Any]) -> Any:
    return http.post("/v1/licences", json=body, headers={"Authorization": f"Bearer {keys.issuer}"})


def test_fields_contradicting_the_id_number_are_422_naming_each(http: TestClient, keys: Keys) -> None:
    person = SyntheticHolders(seed=8801).citizen()
    fields = driving_fields(person.id_number)
    fields["sex"] = "女" if fields["sex"] == "男" else "男"
    fields["first_issued_on"] = "1900-01-01"
    body = {"type_code": DRIVING, "holder_id": person.id_number, "holder_name": person.name, "fields": fields}
    got = _post(http, keys, body)
    assert got.status_code == 422 and got.json()["type"] == P + "invalid-field"
    assert {e["field"] for e in got.json()["errors"]} == {"fields.sex", "fields.first_issued_on"}


def test_a_second_driving_licence_is_409_naming_the_first(http: TestClient, keys: Keys) -> None:
    person = SyntheticHolders(seed=8802).citizen()
    body = {
        "type_code": DRIVING,
        "holder_id": person.id_number,
        "holder_name": person.name,
        "fields": driving_fields(person.id_number),
    }
    first = _post(http, keys, body)
    assert first.status_code == 201
    again = _post(http, keys, body | {"holder_name": "李四"})
    assert again.status_code == 409
    problem = again.json()
    assert problem["type"] == P + "holder-already-holds" and problem["existing"] == first.json()["identifier"]
