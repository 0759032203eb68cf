"""Licence-free handling (免证办): the matter catalogue on the ledger, and `POST /v1/matters/{code}/licences` on both
databases — fields minimised, other types never disclosed, every disclosure a recorded and provable use."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.errors import ProofError
from ledger.merkle import leaf_hash, verify_inclusion
from licences.matters import MATTER_KIND, MatterCatalogue
from licences.registry import CatalogueEntryPublished, entry_stream
from licences.views import LicenceView
from signatures.note import open_checkpoint, parse_verifier_key
from tests.conftest import START
from tests.samples import COMPANY_ID, COMPANY_NAME, FOOD
from trustledger.region import Region
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.client import ApiProblem, TrustLedgerClient
from verify_api.store import ApiKeyStore

RENEW_FOOD = "410100-SPJY-002"  # 食品经营许可（延续）: business licence + food business licence
OTHER_COMPANY = "91110108MA01ABCD0K"  # a valid USCC that holds nothing in these tests
SYSTEM = "郑州市一网通办审批系统"
BODY = {"holder_id": COMPANY_ID, "consent": "授权书 SQ-2026-0001", "purpose": "食品经营许可延续"}


@pytest.fixture
def matter_http(region_on_each_db: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region_on_each_db), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def verifier_key(region_on_each_db: Region) -> str:
    return ApiKeyStore(region_on_each_db.store.engine).create(Role.VERIFIER, SYSTEM, "", region_on_each_db.clock()).key


def _issue(
    region: Region, type_code: str, issuer: str, fields: dict[str, Any], holder: str = COMPANY_ID
) -> LicenceView:
    return region.licences.issue(
        type_code=type_code, issuer=issuer, holder_id=holder, holder_name=COMPANY_NAME, fields=fields, valid_from=START
    )


def _business(region: Region) -> LicenceView:
    fields = {"legal_representative": "张伟", "address": "郑州市金水区花园路1号", "registered_capital": "100万元"}
    return _issue(region, "business-licence", "zz-amr", fields)


def _food(region: Region) -> LicenceView:
    return _issue(region, "food-business-licence", "zz-amr", FOOD)


def _transport(region: Region, holder: str = COMPANY_ID) -> LicenceView:
    fields = {"legal_representative": "张伟", "address": "郑州市管城区紫荆山路1号", "business_scope": "普通货运"}
    return _issue(region, "road-transport-licence", "zz-transport", fields, holder)


def _lookup(http: TestClient, key: str, code: str = RENEW_FOOD, **headers: str) -> Any:
    return http.post(f"/v1/matters/{code}/licences", json=BODY, headers={"Authorization": f"Bearer {key}", **headers})


def _size(region: Region) -> int:
    return region.log.size()


def test_the_matter_catalogue_is_published_on_the_ledger_and_served(
    region_on_each_db: Region, matter_http: TestClient
) -> None:
    region = region_on_each_db
    events = region.recording.load(entry_stream(MATTER_KIND, RENEW_FOOD))
    assert len(events) == 1 and isinstance(events[0], CatalogueEntryPublished)
    assert events[0].document["licence_types"][1] == {
        "type": "11100000000013338W011",
        "fields": ["premises", "main_format", "business_items"],
    }
    listed = matter_http.get("/v1/matters").json()["matters"]
    codes = [m["code"] for m in listed]
    assert RENEW_FOOD in codes and "410100-JSZHL-001" in codes
    one = matter_http.get(f"/v1/matters/{RENEW_FOOD}").json()
    assert one["name_zh"] == "食品经营许可（延续）"
    assert [(t["type_code"], t["fields"]) for t in one["licence_types"]] == [
        ("11100000000013338W001", ["legal_representative", "address"]),
        ("11100000000013338W011", ["premises", "main_format", "business_items"]),
    ]
    missing = matter_http.get("/v1/matters/410100-NOPE-999")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    size = _size(region)  # publishing again changes nothing: the ledger already says it
    assert (
        MatterCatalogue(region.licences.recording, region.licences.store, region.registry).publish(
            [
                m.document()
                for m in MatterCatalogue(region.licences.recording, region.licences.store, region.registry).matters()
            ]
        )
        == 0
    )
    assert _size(region) == size


def test_lookup_discloses_only_the_needed_fields_of_the_matters_types_and_records_each_use(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    business, food, transport = _business(region), _food(region), _transport(region)
    size = _size(region)
    answer = TrustLedgerClient(http=matter_http, api_key=verifier_key).lookup_matter_licences(
        RENEW_FOOD, holder_id=COMPANY_ID, consent=BODY["consent"], purpose=BODY["purpose"]
    )
    by_type = {lic.type_code: lic for lic in answer.licences}
    assert set(by_type) == {business.type_code, food.type_code}  # the transport licence is never disclosed
    assert transport.identifier not in {lic.identifier for lic in answer.licences}
    assert by_type[business.type_code].fields == {"legal_representative": "张伟", "address": "郑州市金水区花园路1号"}
    assert "registered_capital" not in by_type[business.type_code].fields  # the matter does not need it
    assert by_type[food.type_code].fields == {k: FOOD[k] for k in ("premises", "main_format", "business_items")}
    assert "legal_representative" not in by_type[food.type_code].fields
    assert answer.prefill["premises"].value == FOOD["premises"]
    assert answer.prefill["premises"].identifier == food.identifier
    assert answer.prefill["legal_representative"].identifier == business.identifier
    assert all(lic.outcome == "accepted" and lic.status == "valid" for lic in answer.licences)
    assert _size(region) == size + 2  # two uses, one leaf each
    for lic in answer.licences:  # each use recorded with matter, purpose, consent and who
        uses = [h for h in region.licences.history(region.licences.resolve(lic.id)) if h.kind == "invoked"]
        assert len(uses) == 1 and uses[0].leaf_index == lic.use.leaf_index
        event = uses[0].event
        assert (event["matter_code"], event["purpose"], event["consent"], event["verifier"]) == (
            RENEW_FOOD,
            BODY["purpose"],
            BODY["consent"],
            SYSTEM,
        )
        assert lic.status_proven.identifier == lic.identifier and lic.source_region == region.config.code
        assert lic.use.inclusion_proof is not None
        _check_inclusion(
            matter_http, lic.use.inclusion_proof.leaf_index, lic.use.inclusion_proof.hashes, answer, region
        )
        _check_inclusion(matter_http, lic.inclusion_proof.leaf_index, lic.inclusion_proof.hashes, answer, region)


def _check_inclusion(http: TestClient, index: int, hashes: list[str], answer: Any, region: Region) -> None:
    """The leaf is in the tree of the answer's signed checkpoint, checked as an outside verifier would."""
    cp = answer.checkpoint
    body = open_checkpoint(cp.note, parse_verifier_key(cp.verifier_key), region.config.origin)
    data = http.get(f"/v1/log/leaves/{index}").content
    verify_inclusion(index, body.size, leaf_hash(data), [base64.b64decode(h) for h in hashes], body.root_hash)
    flipped = bytearray(base64.b64decode(hashes[0]))
    flipped[0] ^= 1
    with pytest.raises(ProofError):  # a flipped bit in the proof fails
        verify_inclusion(
            index, body.size, leaf_hash(data), [bytes(flipped), *map(base64.b64decode, hashes[1:])], body.root_hash
        )


def test_a_holder_with_only_other_types_gets_an_empty_list_and_nothing_is_recorded(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    _transport(region)
    size = _size(region)
    answer = _lookup(matter_http, verifier_key, **{"Idempotency-Key": "empty-1"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"matter": RENEW_FOOD, "licences": [], "prefill": {}, "checkpoint": None, "peers": None}
    assert _size(region) == size


def test_suspended_and_revoked_licences_are_reported_with_their_status_and_no_fields(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    business, food = _business(region), _food(region)
    region.licences.suspend(food.id, actor="zz-amr", reason="停业整顿")
    region.licences.revoke(business.id, actor="zz-amr", reason="吊销", kind="penalty")
    answer = _lookup(matter_http, verifier_key).json()
    by_type = {lic["type_code"]: lic for lic in answer["licences"]}
    assert by_type[food.type_code]["status"] == "suspended" and by_type[food.type_code]["fields"] == {}
    assert by_type[business.type_code]["status"] == "revoked" and by_type[business.type_code]["fields"] == {}
    assert {lic["outcome"] for lic in answer["licences"]} == {"refused"}
    assert by_type[food.type_code]["refusal_reason"] == "licence_suspended"
    assert by_type[business.type_code]["refusal_reason"] == "licence_revoked"
    assert answer["prefill"] == {}
    assert '"status":"revoked"' in by_type[business.type_code]["status_proven"]["value"]  # proven, not just read


def test_an_idempotent_retry_returns_the_first_answer_and_records_nothing(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    _business(region), _food(region)
    first = _lookup(matter_http, verifier_key, **{"Idempotency-Key": "lookup-1"})
    size = _size(region)
    again = _lookup(matter_http, verifier_key, **{"Idempotency-Key": "lookup-1"})
    assert again.status_code == 200

    def uses(answer: Any) -> list[tuple[str, int, dict[str, Any]]]:
        return [(x["use"]["invocation_id"], x["use"]["leaf_index"], x["fields"]) for x in answer.json()["licences"]]

    assert len(uses(first)) == 2 and uses(again) == uses(first)
    assert again.json()["prefill"] == first.json()["prefill"]
    assert _size(region) == size
    other = matter_http.post(
        f"/v1/matters/{RENEW_FOOD}/licences",
        json={**BODY, "purpose": "另一个目的"},
        headers={"Authorization": f"Bearer {verifier_key}", "Idempotency-Key": "lookup-1"},
    )
    assert other.status_code == 422 and other.json()["type"].endswith("/idempotency-conflict")
    assert _size(region) == size


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"holder_id": COMPANY_ID, "purpose": "延续"}, "consent"),
        ({"holder_id": COMPANY_ID, "consent": "授权书", "purpose": ""}, "purpose"),
        ({"holder_id": "91350100M000100Y44", "consent": "授权书", "purpose": "延续"}, "holder_id"),  # bad check char
        ({"holder_id": "110105194912310021", "consent": "授权书", "purpose": "延续"}, "holder_id"),  # GB 11643
        ({"holder_id": COMPANY_ID, "consent": "   ", "purpose": "延续"}, "consent"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_records_nothing(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str, body: dict[str, str], field: str
) -> None:
    _business(region_on_each_db)
    size = _size(region_on_each_db)
    answer = matter_http.post(
        f"/v1/matters/{RENEW_FOOD}/licences", json=body, headers={"Authorization": f"Bearer {verifier_key}"}
    )
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    named = {problem.get("field")} | {e.get("field") for e in problem.get("errors", [])}
    assert any(n == field or (n or "").endswith(f".{field}") for n in named), problem
    assert _size(region_on_each_db) == size


def test_unknown_matter_is_404_and_only_approval_systems_may_look_up(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    _business(region_on_each_db)
    size = _size(region_on_each_db)
    missing = _lookup(matter_http, verifier_key, code="410100-NOPE-999")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
    assert matter_http.post(f"/v1/matters/{RENEW_FOOD}/licences", json=BODY).status_code == 401
    auditor = ApiKeyStore(region_on_each_db.store.engine).create(Role.AUDITOR, "审计", "", region_on_each_db.clock())
    assert _lookup(matter_http, auditor.key).status_code == 403
    with pytest.raises(ApiProblem) as raised:
        TrustLedgerClient(http=matter_http, api_key=verifier_key).matter("410100-NOPE-999")
    assert raised.value.status == 404
    assert _size(region_on_each_db) == size


def test_licence_types_narrows_the_lookup_to_some_of_the_matters_types(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    business, food = _business(region), _food(region)
    auth = {"Authorization": f"Bearer {verifier_key}"}
    size = _size(region)
    narrowed = matter_http.post(
        f"/v1/matters/{RENEW_FOOD}/licences", json={**BODY, "licence_types": [food.type_code]}, headers=auth
    )
    assert [lic["identifier"] for lic in narrowed.json()["licences"]] == [food.identifier]
    assert _size(region) == size + 1  # the business licence was neither disclosed nor used
    assert business.identifier not in narrowed.text
    for wrong in (["11100000001407312X001"], []):  # a type the matter does not take; none at all
        refused = matter_http.post(
            f"/v1/matters/{RENEW_FOOD}/licences", json={**BODY, "licence_types": wrong}, headers=auth
        )
        assert refused.status_code == 422 and "licence_types" in refused.text, refused.text
    assert _size(region) == size + 1


def test_a_replay_after_a_revocation_discloses_no_fields(
    region_on_each_db: Region, matter_http: TestClient, verifier_key: str
) -> None:
    region = region_on_each_db
    food = _food(region)
    first = _lookup(matter_http, verifier_key, **{"Idempotency-Key": "lookup-2"}).json()
    assert first["licences"][0]["fields"] and first["prefill"]
    region.licences.revoke(food.id, actor="zz-amr", reason="注销")
    size = _size(region)
    again = _lookup(matter_http, verifier_key, **{"Idempotency-Key": "lookup-2"}).json()
    assert again["licences"][0]["use"]["invocation_id"] == first["licences"][0]["use"]["invocation_id"]
    assert again["licences"][0]["status"] == "revoked" and again["licences"][0]["fields"] == {}
    assert again["prefill"] == {} and _size(region) == size
