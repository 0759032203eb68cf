"""Approval systems: verify-and-use with a proof that checks out from the outside; token and PDF checks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from demo.synthetic import SyntheticHolders
from signatures.cose import b64url_decode, decode_token
from tests.verify_api.conftest import Citizen, Keys, client_for
from tests.verify_api.helpers import check_proof, flip_last_byte, resign
from trustledger.region import Region
from verify_api.client import ApiProblem
from verify_api.schemas import InvokedEvent, LicenceOut

P = "https://trustledger.example/problems/"
USE = {"matter_code": "410100-JZ-001", "purpose": "驾驶人信息核验", "consent": "申请人当面出示二维码 2026-11-21"}


def _region(http: TestClient) -> Region:
    region: Region = http.app.state.region  # type: ignore[attr-defined]
    return region


def test_verify_records_the_use_and_proves_the_version(
    http: TestClient, keys: Keys, licence: LicenceOut, citizen: Citizen
) -> None:
    verifier = client_for(http, keys.verifier)
    answer = verifier.verify(licence.id, **USE, holder_id=citizen.id_number)
    assert answer.outcome == "accepted" and answer.status == "valid" and answer.refusal_reason is None
    assert answer.licence.fields["vehicle_class"] == "C1" and answer.licence.identifier == licence.identifier
    assert answer.leaf_index == licence.leaf_index == answer.inclusion_proof.leaf_index
    check_proof(http, answer.inclusion_proof, answer.checkpoint, _region(http).config.origin)
    history = client_for(http, keys.auditor).history(licence.id)
    used = [e for e in history.events if e.kind == "invoked"]
    assert [e.leaf_index for e in used] == [answer.use.leaf_index]
    use = used[0].event
    assert isinstance(use, InvokedEvent)
    assert (use.verifier, use.matter_code, use.purpose, use.consent) == ("郑州市一网通办审批系统", *USE.values())
    assert (use.outcome, use.holder_checked, use.licence_version) == ("accepted", True, 1)


def test_verify_proves_the_use_was_logged(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    """The answer's checkpoint covers the use's own leaf, and the use carries its inclusion proof under it."""
    verifier = client_for(http, keys.verifier)
    origin = _region(http).config.origin
    for _ in range(2):  # the second answer is a replay (same Idempotency-Key): the same use, proven again
        answer = verifier.verify(licence.id, **USE, idempotency_key="use-proof")
        use = answer.use
        assert answer.checkpoint.tree_size > use.leaf_index > answer.leaf_index
        assert use.inclusion_proof is not None and use.inclusion_proof.leaf_index == use.leaf_index
        check_proof(http, use.inclusion_proof, answer.checkpoint, origin)
        check_proof(http, answer.inclusion_proof, answer.checkpoint, origin)
        assert (use.use_id, use.outcome, use.recorded, answer.valid) == (use.invocation_id, "accepted", True, True)
    client_for(http, keys.issuer).suspend(licence.id, reason="核查中")
    refused = verifier.verify(licence.id, **USE)  # a refused use is logged and proven too
    assert (refused.valid, refused.use.outcome) == (False, "refused")
    assert refused.use.inclusion_proof is not None
    check_proof(http, refused.use.inclusion_proof, refused.checkpoint, origin)


def test_local_and_cross_region_verify_share_the_use_shape(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    """Where the two verify answers overlap they say the same thing under the same names."""
    verifier = client_for(http, keys.verifier)
    local = verifier.verify(licence.id, **USE).model_dump()
    anywhere = verifier.verify_any_region(licence.token, **USE).model_dump()
    shared = set(local["use"]) & set(anywhere["use"])
    assert {"invocation_id", "use_id", "leaf_index", "outcome", "recorded", "inclusion_proof"} <= shared
    assert {"valid", "use", "licence", "status_proven"} <= set(local) & set(anywhere)
    use = anywhere["use"]
    assert use["invocation_id"] == use["use_id"] and use["checkpoint"] is not None
    note = use["checkpoint"]
    assert int(note.splitlines()[1]) > use["leaf_index"] == use["inclusion_proof"]["leaf_index"]
    assert anywhere["inclusion"]["checkpoint"] == note  # our own licence: one checkpoint covers both leaves


def test_holder_checks(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    verifier = client_for(http, keys.verifier)
    _, claims = decode_token(b64url_decode(licence.token))
    assert verifier.verify(licence.id, **USE, holder_digest=claims.holder_digest.hex()).outcome == "accepted"
    stranger = SyntheticHolders(seed=99).citizen().id_number
    refused = verifier.verify(licence.id, **USE, holder_id=stranger)
    assert (refused.outcome, refused.refusal_reason) == ("refused", "holder_mismatch")
    assert refused.licence.fields == {}  # nothing disclosed to a use that was refused
    with pytest.raises(ApiProblem) as exc:
        verifier.verify(licence.id, **USE, holder_id=stranger, holder_digest=claims.holder_digest.hex())
    assert (exc.value.status, exc.value.field) == (422, "holder_id")
    with pytest.raises(ApiProblem) as exc:
        verifier.verify(licence.id, **USE, holder_id="41010519900307123")
    assert (exc.value.status, exc.value.field) == (422, "holder_id")
    with pytest.raises(ApiProblem) as exc:
        verifier.verify(licence.id, **USE | {"matter_code": "有 空格"})
    assert (exc.value.status, exc.value.field) == (422, "matter_code")


def test_a_suspended_licence_is_refused_and_the_refusal_recorded(
    http: TestClient, keys: Keys, licence: LicenceOut
) -> None:
    client_for(http, keys.issuer).suspend(licence.id, reason="核查中")
    refused = client_for(http, keys.verifier).verify(licence.id, **USE)
    assert (refused.outcome, refused.status, refused.refusal_reason) == ("refused", "suspended", "licence_suspended")
    kinds = [e.kind for e in client_for(http, keys.auditor).history(licence.id).events]
    assert kinds == ["issued", "suspended", "invoked"]


def test_a_retried_verify_is_recorded_once(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    verifier = client_for(http, keys.verifier)
    first = verifier.verify(licence.id, **USE, idempotency_key="matter-77")
    size = _region(http).log.size()
    again = verifier.verify(licence.id, **USE, idempotency_key="matter-77")
    assert again.use == first.use and _region(http).log.size() == size
    with pytest.raises(ApiProblem) as exc:
        verifier.verify(licence.id, **USE | {"purpose": "另一事项"}, idempotency_key="matter-77")
    assert exc.value.type == P + "idempotency-conflict"


def test_token_check_verdicts(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    checker = client_for(http, keys.verifier)
    good = checker.check_token(licence.qr_url)
    assert (good.verdict, good.valid, good.token_version) == ("valid", True, 1)
    assert good.licence is not None and good.licence.fields["vehicle_class"] == "C1"
    assert good.inclusion_proof is not None and good.checkpoint is not None
    check_proof(http, good.inclusion_proof, good.checkpoint, _region(http).config.origin)
    # forged or foreign: nothing of the token's claims comes back
    for token, code in (
        (flip_last_byte(licence.token), "bad_signature"),
        (resign(licence.token), "unknown_key"),
        (resign(licence.token, leaf_index=0), "unknown_key"),
    ):
        bad = checker.check_token(token)
        assert (bad.verdict, bad.reason_code, bad.licence, bad.leaf_index) == ("invalid", code, None, None)
    other = checker.check_token(resign(licence.token, log_origin="ledger.hb.gov.example/log"))
    assert other.verdict == "other_region" and other.licence is None
    # the lifecycle shows through the same token
    issuer = client_for(http, keys.issuer)
    issuer.amend(licence.id, changes={"vehicle_class": "A1"})
    old = checker.check_token(licence.token)
    assert (old.verdict, old.valid, old.token_version) == ("superseded", False, 1)
    assert old.licence is not None and old.licence.licence_version == 2 and old.licence.fields == {}
    issuer.revoke(licence.id, reason="吊销", kind="penalty")
    assert checker.check_token(issuer.get(licence.id).token).verdict == "revoked"


def test_a_compromised_key_invalidates_what_it_signed_after(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    region = _region(http)
    header, _ = decode_token(b64url_decode(licence.token))
    region.registry.compromise_key(header.kid, since=licence.valid_from - timedelta(seconds=5))
    bad = client_for(http, keys.auditor).check_token(licence.token)
    assert (bad.verdict, bad.reason_code) == ("invalid", "key_compromised")


def test_malformed_tokens_are_422_naming_the_field(http: TestClient, keys: Keys) -> None:
    checker = client_for(http, keys.verifier)
    for text in ("not a token", "https://evil.example/x/abc", "AAAA", "gg" * 600):
        with pytest.raises(ApiProblem) as exc:
            checker.check_token(text)
        assert (exc.value.type, exc.value.field) == (P + "malformed-token", "token")


def test_pdf_check_refuses_other_media(http: TestClient, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.verifier}"}
    wrong = http.post("/v1/verify/pdf", content=b"%PDF-1.7", headers=auth | {"Content-Type": "text/plain"})
    assert wrong.status_code == 415 and wrong.json()["type"] == P + "unsupported-media-type"


def test_uploads_over_the_limit_are_413_before_parsing(http: TestClient, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.verifier}", "Content-Type": "application/pdf"}
    big = b"%PDF-" + b"0" * (10 * 1024 * 1024 + 64 * 1024)
    response = http.post("/v1/verify/pdf", content=big, headers=auth)
    assert response.status_code == 413 and response.json()["type"] == P + "payload-too-large"
    json_body = b'{"token": "' + b"a" * 70_000 + b'"}'
    response = http.post("/v1/verify/token", content=json_body, headers=auth | {"Content-Type": "application/json"})
    assert response.status_code == 413

    def chunks() -> object:  # no Content-Length: the limit still holds while streaming
        for _ in range(20):
            yield b"x" * 8192

    response = http.post("/v1/verify/token", content=chunks(), headers=auth)  # type: ignore[arg-type]
    assert response.status_code == 413


def test_a_token_signed_by_the_real_key_outside_the_ledger_is_refused(
    http: TestClient, keys: Keys, licence: LicenceOut
) -> None:
    """A department key used behind the ledger's back: the token names no minting leaf of the licence."""
    import dataclasses

    from signatures.cose import b64url_encode, sign_token

    region = _region(http)
    _, signer = region.registry.token_signer(licence.issuer, region.clock())
    _, claims = decode_token(b64url_decode(licence.token))
    checker = client_for(http, keys.auditor)

    def forged(**changes: object) -> str:
        return b64url_encode(sign_token(dataclasses.replace(claims, **changes), signer))  # type: ignore[arg-type]

    assert checker.check_token(forged()).verdict == "valid"  # same claims, same key: the genuine token again
    not_minting = checker.check_token(forged(leaf_index=0))
    assert (not_minting.verdict, not_minting.reason_code) == ("invalid", "not_on_ledger")
    beyond = checker.check_token(forged(leaf_index=10**6))
    assert (beyond.verdict, beyond.reason_code) == ("invalid", "not_on_ledger")
    unknown = checker.check_token(forged(subject=claims.subject.replace(".001.", ".009.")))
    assert (unknown.verdict, unknown.reason_code, unknown.licence) == ("unknown", "unknown_licence", None)
    newer = checker.check_token(forged(version=5))
    assert (newer.verdict, newer.reason_code) == ("invalid", "unknown_version")
    other_holder = checker.check_token(forged(holder_digest=bytes(16)))
    assert (other_holder.verdict, other_holder.reason_code) == ("invalid", "holder_mismatch")


def test_end_to_end_on_each_database(region_on_each_db: Region, citizen: Citizen) -> None:
    """Issue → verify → token check → history, on SQLite and on PostgreSQL, every proof checked from outside."""
    from fastapi.testclient import TestClient as Client

    from tests.verify_api.conftest import DRIVING, driving_fields
    from verify_api.apikeys import Role
    from verify_api.app import create_app
    from verify_api.store import ApiKeyStore

    region = region_on_each_db
    store = ApiKeyStore(region.store.engine)
    police = region.catalogue.department("zz-traffic-police").uscc
    issuer_key = store.create(Role.ISSUER, police, "", region.clock()).key
    verifier_key = store.create(Role.VERIFIER, "审批系统", "", region.clock()).key
    auditor_key = store.create(Role.AUDITOR, "审计", "", region.clock()).key
    with Client(create_app(region), raise_server_exceptions=False) as http:
        issued = client_for(http, issuer_key).issue(
            type_code=DRIVING, holder_id=citizen.id_number, holder_name=citizen.name, fields=driving_fields()
        )
        answer = client_for(http, verifier_key).verify(issued.id, **USE, holder_id=citizen.id_number)
        assert answer.outcome == "accepted"
        check_proof(http, answer.inclusion_proof, answer.checkpoint, region.config.origin)
        assert client_for(http, verifier_key).check_token(issued.qr_url).verdict == "valid"
        history = client_for(http, auditor_key).history(issued.id)
        assert [e.kind for e in history.events] == ["issued", "invoked"]
        for event in history.events:
            assert event.inclusion_proof is not None
            check_proof(http, event.inclusion_proof, history.checkpoint, region.config.origin)
        assert "有效" in http.get(f"/v/{issued.token}").text
