"""Who may read a licence's status proof (docs/adr/0013): an organisation's licence is a public register entry; a
citizen's only its possessor (the QR token) or a caller with an API key may follow. A guesser learns nothing, not even
whether the identifier exists: the refusal is the same for a real and an invented licence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from demo.synthetic import SyntheticHolders
from licences.identifiers import make_identifier
from signatures.note import parse_verifier_key
from signatures.statusproof import parse_status_proof, verify_status_proof
from tests.verify_api.conftest import DRIVING, Keys, client_for, driving_fields
from tests.verify_api.helpers import flip_last_byte, organisation_licence, resign
from trustledger.region import Region
from trustledger_client.models import LicenceOut
from verify_api.app import create_app

PATH = "/v1/status/proof"


def _checked(region: Region, doc: dict[str, Any]) -> str:
    key = parse_verifier_key(region.log_signer.verifier.to_string())  # as published
    proven = verify_status_proof(parse_status_proof(doc), key, region.config.origin)
    assert proven.value is not None
    return proven.value.status


def _same(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem document without its per-request id."""
    return {k: v for k, v in problem.items() if k != "request_id"}


def _invented(licence: LicenceOut) -> str:
    """An identifier of the same type and issuer with a serial nobody was issued."""
    parts = licence.identifier.split(".")
    return str(make_identifier(parts[5], parts[6], str(int(parts[7]) + 1000), 1))


def test_an_organisations_licence_is_public(http: TestClient, region: Region) -> None:
    view = organisation_licence(region)
    answer = http.get(PATH, params={"identifier": view.identifier})
    assert answer.status_code == 200
    assert _checked(region, answer.json()) == "active"


def test_a_citizens_licence_needs_its_token_and_a_guess_learns_nothing(
    http: TestClient, region: Region, licence: LicenceOut
) -> None:
    real = http.get(PATH, params={"identifier": licence.identifier})
    invented = http.get(PATH, params={"identifier": _invented(licence)})
    assert real.status_code == invented.status_code == 404
    assert real.headers["content-type"] == invented.headers["content-type"] == "application/problem+json"
    assert _same(real.json()) == _same(invented.json())  # not even existence is told
    assert real.json()["type"].endswith("/not-found")
    with_token = http.get(PATH, params={"identifier": licence.identifier, "token": licence.token})
    assert with_token.status_code == 200
    assert _checked(region, with_token.json()) == "active"
    url = f"https://verify.ha.gov.example/v/{licence.token}"  # the QR's URL works as well as the bare token
    assert http.get(PATH, params={"identifier": licence.identifier, "token": url}).status_code == 200


def test_a_token_that_does_not_prove_possession_is_refused_like_a_guess(
    http: TestClient, region: Region, keys: Keys, licence: LicenceOut
) -> None:
    someone = SyntheticHolders(seed=7).citizen()
    other = client_for(http, keys.issuer).issue(
        type_code=DRIVING,
        holder_id=someone.id_number,
        holder_name=someone.name,
        fields=driving_fields(someone.id_number),
    )
    assert region.catalogue.licence_type(DRIVING).holder_kind.value == "citizen"
    refused = {
        "another licence's token": other.token,
        "a forged token (unregistered key)": resign(licence.token),
        "a token with a flipped signature bit": flip_last_byte(licence.token),
        "not a token": "not-a-token",
    }
    expected = http.get(PATH, params={"identifier": licence.identifier}).json()
    for what, token in refused.items():
        answer = http.get(PATH, params={"identifier": licence.identifier, "token": token})
        assert (answer.status_code, _same(answer.json())) == (404, _same(expected)), what


@pytest.mark.parametrize("role", ["verifier", "auditor", "issuer", "operator"])
def test_a_caller_with_an_api_key_may_read_any_proof(
    http: TestClient, region: Region, keys: Keys, licence: LicenceOut, role: str
) -> None:
    key = keys.of(role)
    answer = http.get(PATH, params={"identifier": licence.identifier}, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert _checked(region, answer.json()) == "active"
    bad = http.get(PATH, params={"identifier": licence.identifier}, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


@pytest.fixture
def http_on_each_db(region_on_each_db: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region_on_each_db), raise_server_exceptions=False) as c:
        yield c


def test_disclosure_rules_on_each_database(http_on_each_db: TestClient, region_on_each_db: Region) -> None:
    region = region_on_each_db
    someone = SyntheticHolders(seed=7).citizen()
    view = region.licences.issue(
        type_code=DRIVING,
        issuer="zz-traffic-police",
        holder_id=someone.id_number,
        holder_name=someone.name,
        fields=driving_fields(someone.id_number),
    )
    assert http_on_each_db.get(PATH, params={"identifier": view.identifier}).status_code == 404
    answer = http_on_each_db.get(PATH, params={"identifier": view.identifier, "token": view.token})
    assert answer.status_code == 200
    assert _checked(region, answer.json()) == "active"
    org = organisation_licence(region)
    assert http_on_each_db.get(PATH, params={"identifier": org.identifier}).status_code == 200
