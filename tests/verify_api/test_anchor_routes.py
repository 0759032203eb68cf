"""`POST /v1/federation/verify` and `GET /v1/federation/status` in process: the local path (our own licence, use on
the licence), a token of a region we do not federate with (refused, use still recorded), and bad input as 422
problems naming the field (the three-server test covers peers' licences end to end)."""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from anchors.store import AnchorStore
from anchors.uses import load_peer_use
from ledger.merkle import leaf_hash, verify_inclusion
from signatures.cose import Ed25519Signer, LicenceClaims, b64url_encode, sign_token
from signatures.note import open_checkpoint
from tests.anchors.helpers import ed_key
from tests.verify_api.conftest import Keys, client_for
from trustledger.anchoring import http_client, region_federation
from trustledger.crossregion import cross_region_store
from trustledger.region import Region
from verify_api.schemas import LicenceOut

USE = {"matter_code": "410100-KB-001", "purpose": "开办企业", "consent": "授权书 A-1"}
JS = "ledger.js.gov.example/log"


def _post(http: TestClient, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = http.post("/v1/federation/verify", json=body, headers={"Authorization": f"Bearer {key}"})
    return response.status_code, response.json()


def _foreign_token() -> str:
    now = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    claims = LicenceClaims(
        issuer="11410100007409378P",
        subject="1.2.156.3005.2.11100000000013338W001.11320100000000000X.00000000001.001.A",
        issued_at=now,
        not_before=now,
        expires_at=None,
        licence_type="11100000000013338W001",
        version=1,
        holder_digest=secrets.token_bytes(16),
        leaf_index=3,
        log_origin=JS,
    )
    return b64url_encode(sign_token(claims, Ed25519Signer(ed_key("js-token"))))


def test_our_own_licence_goes_the_local_way_and_its_use_is_recorded(
    http: TestClient, keys: Keys, licence: LicenceOut, region: Region
) -> None:
    answer = client_for(http, keys.verifier).verify_any_region(licence.qr_url, **USE)
    assert answer.verdict == "valid" and answer.valid and answer.local
    assert answer.use is not None and answer.use.outcome == "accepted"
    assert answer.inclusion is not None and answer.inclusion.leaf_index == licence.leaf_index
    _check_use_proof(http, region, answer.use.model_dump())
    assert answer.inclusion.checkpoint == answer.use.checkpoint  # our own licence: one note covers both leaves
    assert answer.status is not None and answer.status.verdict == "valid" and answer.trust_list is None
    client_for(http, keys.issuer).revoke(licence.id, reason="吊销")
    code, revoked = _post(http, keys.verifier, {"token": licence.token, **USE})
    assert code == 200 and revoked["verdict"] == "invalid" and revoked["reasons"][0]["code"] == "revoked"
    assert revoked["use"]["outcome"] == "refused"  # a refused use is recorded too


def test_a_region_we_do_not_federate_with_is_refused_and_the_use_recorded(
    http: TestClient, keys: Keys, region: Region
) -> None:
    code, answer = _post(http, keys.verifier, {"token": _foreign_token(), **USE})
    assert code == 200 and answer["verdict"] == "refused" and not answer["local"]
    assert [r["code"] for r in answer["reasons"]] == ["unknown_region"] and answer["licence"] is None
    use = answer["use"]
    assert isinstance(use, dict) and use["outcome"] == "refused"
    recorded = load_peer_use(region.recorder, UUID(use["use_id"]))
    assert recorded is not None and recorded.origin == JS and recorded.verdict == "refused"
    _check_use_proof(http, region, use)  # a peer's licence: the use is proven on our log, under our checkpoint


def _check_use_proof(http: TestClient, region: Region, use: dict[str, Any]) -> None:
    """The answer's `use` carries an inclusion proof of its leaf under this region's signed checkpoint note."""
    assert use["invocation_id"] == use["use_id"] and use["recorded"] is True
    body = open_checkpoint(use["checkpoint"], region.log_signer.verifier, region.config.origin)
    proof = use["inclusion_proof"]
    assert proof["leaf_index"] == use["leaf_index"] < body.size == proof["tree_size"]
    data = http.get(f"/v1/log/leaves/{use['leaf_index']}").content
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    verify_inclusion(use["leaf_index"], body.size, leaf_hash(data), hashes, body.root_hash)


def test_bad_input_is_a_problem_naming_the_field(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"token": "not a token", **USE}, 422, "token"),
        ({"token": licence.token, **USE, "purpose": "   "}, 422, "purpose"),
        ({"token": licence.token, **USE, "matter_code": "a b"}, 422, "matter_code"),
        ({"token": licence.token, **USE, "extra": 1}, 422, "extra"),
        ({"token": licence.token, "matter_code": "X"}, 422, "purpose"),
    ]
    for body, status, field in cases:
        code, problem = _post(http, keys.verifier, body)
        assert (code, problem.get("field")) == (status, field), (body, problem)
        assert str(problem["type"]).startswith("https://trustledger.example/problems/")


def test_status_is_least_disclosure_and_only_for_our_tokens(http: TestClient, licence: LicenceOut) -> None:
    mine = http.get("/v1/federation/status", params={"token": licence.qr_url}).json()
    assert mine == {
        "origin": "ledger.ha.gov.example/log",
        "verdict": "valid",
        "reason_code": "valid",
        "current_version": 1,
    }
    theirs = http.get("/v1/federation/status", params={"token": _foreign_token()}).json()
    assert theirs["verdict"] == "other_region" and theirs["current_version"] is None
    bad = http.get("/v1/federation/status", params={"token": "zzz"})
    assert bad.status_code == 422 and bad.json()["field"] == "token"


def test_peers_listing_shows_the_rule_in_force(http: TestClient, region: Region) -> None:

    with http_client() as client:
        region_federation(region, client).add_peer(JS, "http://127.0.0.1:9", bytes(32))
    cross_region_store(region).add_rule(JS, ["11100000000013338W001"], "营业执照", region.clock())
    peers = http.get("/v1/federation/peers").json()["peers"]
    assert peers[0]["acceptance"]["version"] == 1 and peers[0]["acceptance"]["licence_types"] == [
        "11100000000013338W001"
    ]
    assert AnchorStore(region.store.engine).peer(JS) is not None
