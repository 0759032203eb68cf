"""A body that is no JSON object is a 422 `validation` problem naming `body`: never a decoder offset (`5`), a
member of the broken text (`a`), an array index (`0`), nor a bare 400."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.verify_api.conftest import Keys
from verify_api.schemas import LicenceOut

P = "https://trustledger.example/problems/"
MALFORMED = {
    "truncated": (b'{"a":', "not valid JSON"),
    "unterminated string": (b'{"matter_code": "41', "not valid JSON"),
    "array": (b"[1,2]", "must be a JSON object"),
    "number": (b"1", "must be a JSON object"),
    "null": (b"null", "must be a JSON object"),
    "not UTF-8": (b"\xff\xfe\xfa", "not valid"),
    "not UTF-8 inside a string": (b'{"a": "\xff"}', "not valid UTF-8 JSON"),
    "nested too deeply": (b"[" * 60_000, "not valid JSON"),
}


def _posts(licence: LicenceOut, keys: Keys) -> list[tuple[str, str]]:
    """Every POST route with a JSON body, with a key its role admits (so the body is what is refused)."""
    lid = licence.id
    issuer = [f"/v1/licences/{lid}/{verb}" for verb in ("renew", "amend", "suspend", "reinstate", "revoke")]
    return [
        ("/v1/licences", keys.issuer),
        *((path, keys.issuer) for path in issuer),
        (f"/v1/licences/{lid}/verify", keys.verifier),
        ("/v1/verify/token", keys.verifier),
        ("/v1/federation/verify", keys.verifier),
    ]


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_body_is_422_naming_body(http: TestClient, keys: Keys, licence: LicenceOut, case: str) -> None:
    body, says = MALFORMED[case]
    for path, key in _posts(licence, keys):
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        response = http.post(path, content=body, headers=headers)
        assert response.status_code == 422, (case, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert (problem["type"], problem["field"]) == (P + "validation", "body"), (case, path, problem)
        assert [e["field"] for e in problem["errors"]] == ["body"], (case, path, problem)
        assert problem["detail"].startswith("body: the request body ") and says in problem["detail"], problem


def test_a_member_error_still_names_the_member(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    headers = {"Authorization": f"Bearer {keys.verifier}"}
    answer = http.post(f"/v1/licences/{licence.id}/verify", json={"a": 1}, headers=headers)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"a", "matter_code", "purpose", "consent"} <= fields  # well-formed JSON: the members at fault, by name
