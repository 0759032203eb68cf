"""Auditors: the history with a proof per event against a stated checkpoint; the provenance page's two variants."""

from __future__ import annotations

import json
from typing import get_args

import pytest
from fastapi.testclient import TestClient

from tests.verify_api.conftest import DRIVING, Citizen, Keys, client_for
from tests.verify_api.helpers import check_proof, organisation_licence
from trustledger.region import Region
from verify_api.client import ApiProblem
from verify_api.schemas import AmendedEvent, HistoryEvent, IssuedEvent, LicenceOut, SuspendedEvent

USE = {"matter_code": "410100-JZ-001", "purpose": "驾驶人信息核验", "consent": "当面出示"}


def _region(http: TestClient) -> Region:
    region: Region = http.app.state.region  # type: ignore[attr-defined]
    return region


def _trail(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    issuer = client_for(http, keys.issuer)
    issuer.suspend(licence.id, reason="核查")
    client_for(http, keys.verifier).verify(licence.id, **USE)
    issuer.reinstate(licence.id, reason="核查完毕")
    issuer.amend(licence.id, changes={"vehicle_class": "B2"})


def test_history_proves_every_event_against_one_checkpoint(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    _trail(http, keys, licence)
    history = client_for(http, keys.auditor).history(licence.identifier)
    kinds = [e.kind for e in history.events]
    assert kinds == ["issued", "suspended", "invoked", "reinstated", "amended"]
    assert [e.licence_version for e in history.events] == [1, 1, 1, 1, 2]
    origin = _region(http).config.origin
    for event in history.events:
        assert event.inclusion_proof is not None
        check_proof(http, event.inclusion_proof, history.checkpoint, origin)
    suspended = history.events[1].event
    assert isinstance(suspended, SuspendedEvent) and (suspended.reason, suspended.actor) == ("核查", licence.issuer)
    issued = history.events[0].event
    assert isinstance(issued, IssuedEvent) and issued.fields == licence.fields
    assert (issued.identifier, issued.licence_version, issued.type_code) == (licence.identifier, 1, DRIVING)
    assert (issued.valid_from, issued.valid_until) == (licence.valid_from, licence.valid_until)
    amended = history.events[4].event
    assert isinstance(amended, AmendedEvent) and amended.changes == {"vehicle_class": "B2"}
    assert amended.holder_data_changed is False


def test_history_shows_documented_events_not_store_internals(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    _trail(http, keys, licence)
    client_for(http, keys.issuer).revoke(licence.id, reason="吊销处罚", kind="penalty")
    raw = http.get(f"/v1/licences/{licence.id}/history", headers={"Authorization": f"Bearer {keys.auditor}"})
    events = raw.json()["events"]
    internals = ("_type_", "_data_", "originator_topic", "originator_id", "originator_version", "timestamp")
    for event in events:
        text = json.dumps(event["event"])
        assert event["event"]["kind"] == event["kind"]
        assert not any(f'"{name}"' in text for name in (*internals, "holder_blob", "identifier_check_ok"))
    by_kind = {e["kind"]: e["event"] for e in events}
    assert by_kind["revoked"] == {
        "kind": "revoked",
        "reason": "吊销处罚",
        "revocation": "penalty",
        "actor": licence.issuer,
    }
    assert set(by_kind["invoked"]) == {
        "kind", "identifier", "licence_version", "verifier", "matter_code", "purpose", "consent", "holder_checked",
        "outcome", "refusal_reason",
    }  # fmt: skip
    assert by_kind["invoked"]["consent"] == USE["consent"]  # the holder's consent record, for the auditor
    schema = http.get("/openapi.json").json()["components"]["schemas"]
    for name in ("IssuedEvent", "RenewedEvent", "AmendedEvent", "SuspendedEvent", "ReinstatedEvent"):
        assert name in schema
    for name in ("RevokedEvent", "ReminderEvent", "SealedEvent", "InvokedEvent"):
        assert name in schema


def test_every_stored_kind_has_a_documented_form() -> None:
    """Each kind the read model records maps to its model (a new event class must get one)."""
    from licences.projector import KINDS

    forms = {m.model_fields["kind"].default for m in get_args(get_args(HistoryEvent)[0])}
    assert forms == set(KINDS.values())


def test_history_against_an_older_checkpoint(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    region = _region(http)
    old = region.sign_checkpoint()  # a checkpoint covering the issue only
    old_size = int(old.splitlines()[1])
    _trail(http, keys, licence)
    auditor = client_for(http, keys.auditor)
    history = auditor.history(licence.id, size=old_size)
    assert history.checkpoint.tree_size == old_size and history.checkpoint.note == old
    proven = [e for e in history.events if e.inclusion_proof is not None]
    assert [e.kind for e in proven] == ["issued"]  # the later events are newer than that checkpoint
    check_proof(http, proven[0].inclusion_proof, history.checkpoint, region.config.origin)  # type: ignore[arg-type]
    with pytest.raises(ApiProblem) as exc:  # status changes are checkpointed as they commit: ask past the end
        auditor.history(licence.id, size=region.log.size() + 1)
    assert (exc.value.status, exc.value.field) == (404, "size")
    assert exc.value.type.endswith("/checkpoint-not-found")


def test_public_provenance_page_needs_the_token_and_shows_lifecycle_only(
    http: TestClient, keys: Keys, licence: LicenceOut, citizen: Citizen
) -> None:
    _trail(http, keys, licence)
    page = http.get(f"/licences/{licence.id}/provenance", params={"token": licence.token})  # the old version's
    assert page.status_code == 200
    html = page.text
    for kind in ("issued", "suspended", "reinstated", "amended"):
        assert f'data-kind="{kind}"' in html
    assert 'data-kind="invoked"' not in html  # who used the licence for what is not public
    assert "核查" not in html and "郑州市一网通办审批系统" not in html  # reasons and verifiers stay private
    for secret in (citizen.id_number, citizen.name, licence.identifier, licence.holder_digest):
        assert secret not in html
    assert "— ledger.ha.gov.example/log" in html  # the signed checkpoint note
    assert "个人证照" in html and "cannot be found from the licence identifier" in html  # what the log reveals
    for params in ({}, {"token": "garbage"}, {"token": _other_token(http, keys)}):
        hidden = http.get(f"/licences/{licence.id}/provenance", params=params)
        assert hidden.status_code == 404 and "未找到溯源记录" in hidden.text
    unknown = http.get("/licences/00000000-0000-0000-0000-000000000000/provenance", params={"token": licence.token})
    assert unknown.status_code == 404


def _other_token(http: TestClient, keys: Keys) -> str:
    from demo.synthetic import SyntheticHolders
    from tests.verify_api.conftest import DRIVING, driving_fields

    other = SyntheticHolders(seed=7).citizen()
    issued = client_for(http, keys.issuer).issue(
        type_code=DRIVING, holder_id=other.id_number, holder_name=other.name, fields=driving_fields(other.id_number)
    )
    return issued.token


def test_auditor_provenance_page_is_full(http: TestClient, keys: Keys, licence: LicenceOut) -> None:
    _trail(http, keys, licence)
    page = http.get(f"/licences/{licence.id}/provenance", headers={"Authorization": f"Bearer {keys.auditor}"})
    assert page.status_code == 200
    current = client_for(http, keys.auditor).get(licence.id).identifier
    assert 'data-kind="invoked"' in page.text and current in page.text and "核查" in page.text
    for column in ("Verifier", "Matter", "Purpose"):
        assert f'<span class="en">{column}</span></th>' in page.text
    row = page.text.split('data-kind="invoked"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="verifier">郑州市一网通办审批系统</td>' in row
    assert f'<td class="matter"><code>{USE["matter_code"]}</code></td>' in row
    assert f'<td class="purpose">{USE["purpose"]}<br>' in row
    public = http.get(f"/licences/{licence.id}/provenance", params={"token": licence.token}).text
    assert "Verifier</span></th>" not in public  # the public view has no use columns (and no uses)
    denied = http.get(f"/licences/{licence.id}/provenance", headers={"Authorization": f"Bearer {keys.other_issuer}"})
    assert denied.status_code == 404  # a department of other types gets the public rule: no token, nothing


def test_an_organisations_provenance_page_says_its_lifecycle_is_public(http: TestClient, region: Region) -> None:
    view = organisation_licence(region)
    page = http.get(f"/licences/{view.id}/provenance", params={"token": view.token})
    assert page.status_code == 200
    assert "单位证照" in page.text and "public by law" in page.text
    assert "个人证照" not in page.text
