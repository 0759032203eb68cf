"""`GET /v1/sealed-documents/{sha256}?identifier=` on both databases: where the `DocumentSealed` of a sealed PDF is,
with the event's stored bytes, so a peer can prove it itself (the leaf's `payload_sha256` commits to those bytes);
an unknown hash and an unknown licence answer alike; the peer side parses the answer strictly."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from anchors.errors import PeerError
from anchors.sealed_documents import parse_sealed_document
from ledger.envelope import parse_leaf_data
from tests.verify_api.conftest import driving_fields
from trustledger.region import Region
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.store import ApiKeyStore

DRIVING = "11100000001407312X001"


@pytest.fixture
def http_on_each_db(region_on_each_db: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region_on_each_db), raise_server_exceptions=False) as c:
        yield c


def test_the_sealed_document_of_a_pdf_is_found_and_its_bytes_match_the_leaf(
    region_on_each_db: Region, http_on_each_db: TestClient
) -> None:
    region, http = region_on_each_db, http_on_each_db
    police = region.catalogue.department("zz-traffic-police").uscc
    key = ApiKeyStore(region.store.engine).create(Role.ISSUER, police, "police", region.clock()).key
    auth = {"Authorization": f"Bearer {key}"}
    holder = "11010519491231002X"
    body = {"type_code": DRIVING, "holder_id": holder, "holder_name": "张三", "fields": driving_fields(holder)}
    issued = http.post("/v1/licences", json=body, headers=auth)
    assert issued.status_code == 201, issued.text
    licence = issued.json()
    pdf = http.get(f"/v1/licences/{licence['id']}/pdf", headers=auth).content
    sha = hashlib.sha256(pdf).hexdigest()

    answer = http.get(f"/v1/sealed-documents/{sha}", params={"identifier": licence["identifier"]})
    assert answer.status_code == 200, answer.text
    found = parse_sealed_document(answer.content, licence["identifier"], sha)
    assert found is not None and found.leaf_index > licence["leaf_index"]
    leaf = http.get(f"/v1/log/leaves/{found.leaf_index}").content
    envelope = parse_leaf_data(leaf)
    assert (
        envelope.type.endswith(":DocumentSealed") and envelope.payload_sha256 == hashlib.sha256(found.state).hexdigest()
    )
    assert json.loads(found.state)["pdf_sha256"] == sha

    # an unknown hash, and an unknown licence, answer alike: no leaf
    other = http.get(f"/v1/sealed-documents/{'1' * 64}", params={"identifier": licence["identifier"]}).json()
    assert other["leaf_index"] is None and other["state"] is None
    unknown = licence["identifier"].replace(".001.", ".002.")
    nobody = http.get(f"/v1/sealed-documents/{sha}", params={"identifier": unknown}).json()
    assert nobody["leaf_index"] is None and nobody["state"] is None
    # bad input: a 422 naming the field, never a 500
    bad = http.get(f"/v1/sealed-documents/{sha}", params={"identifier": "not-an-identifier"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
    assert "identifier" in bad.text
    assert (
        http.get(f"/v1/sealed-documents/{sha.upper()}", params={"identifier": licence["identifier"]}).status_code == 422
    )


def test_a_peers_answer_is_parsed_strictly() -> None:
    ident, sha = "1.2.156.3005.2.X", "a" * 64
    good = {"identifier": ident, "pdf_sha256": sha, "leaf_index": 7, "state": base64.b64encode(b"{}").decode()}
    found = parse_sealed_document(json.dumps(good).encode(), ident, sha)
    assert found is not None and found.leaf_index == 7 and found.state == b"{}"
    empty = good | {"leaf_index": None, "state": None}
    assert parse_sealed_document(json.dumps(empty).encode(), ident, sha) is None
    for bad in (
        good | {"identifier": ident + "1"},  # about another licence
        good | {"pdf_sha256": "b" * 64},  # about another PDF
        good | {"extra": 1},
        good | {"leaf_index": -1},
        good | {"leaf_index": True},
        good | {"state": "!!"},
        good | {"state": ""},
        good | {"leaf_index": None},
    ):
        with pytest.raises(PeerError):
            parse_sealed_document(json.dumps(bad).encode(), ident, sha)
    with pytest.raises(PeerError):
        parse_sealed_document(b"not json", ident, sha)
