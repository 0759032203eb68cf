"""`GET /v1/catalogue`: the catalogue for integrators, public, the same documents as `trustledger catalogue`."""

from __future__ import annotations

from fastapi.testclient import TestClient

from licences.catalogue import catalogue_json
from trustledger.region import Region


def test_catalogue_is_public_and_lists_types_fields_and_departments(http: TestClient, region: Region) -> None:
    response = http.get("/v1/catalogue")
    assert response.status_code == 200 and response.headers["cache-control"].startswith("public")
    doc = response.json()
    types = {t["key"]: t for t in doc["licence_types"]}
    driving = types["driving-licence"]
    assert driving["code"] == "11100000001407312X001" and driving["name_zh"] == "机动车驾驶证"
    labels = {f["name"]: (f["label_zh"], f["label_en"], f["type"]) for f in driving["required_fields"]}
    assert labels["date_of_birth"] == ("出生日期", "Date of birth", "date")
    departments = {d["key"]: d for d in doc["departments"]}
    assert departments["ha-amr"]["uscc"] == "11410000005164805L"
    assert departments["ha-amr"]["name_zh"] == "河南省市场监督管理局"
    assert "11100000000013338W001" in departments["ha-amr"]["licence_types"]


def test_catalogue_matches_the_cli_documents(http: TestClient, region: Region) -> None:
    expected = catalogue_json(region.catalogue)

    # the API leaves out absent optional members (no `years` for 长期, no `choices` on free text)
    def prune(value: object) -> object:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [prune(v) for v in value]
        return value

    assert http.get("/v1/catalogue").json() == prune(expected)


def test_catalogue_is_in_the_published_schema(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    assert "get" in schema["paths"]["/v1/catalogue"]
