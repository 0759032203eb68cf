"""No verdict without proof: a licence's status comes from the status map, proven against the signed checkpoint.

A tampered read model or status map can make the service refuse to answer (503 `status-unproven`, an alarm on
/metrics, exit 1 on the CLI, a "cannot prove" page), never flip a verdict. Every surface says against which
checkpoint a status was proven, and the proof it names checks out with the log's key alone.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from signatures.cose import b64url_decode, decode_token
from signatures.note import parse_verifier_key
from signatures.statusproof import parse_status_proof, verify_status_proof
from tests.verification.test_same_verdict_everywhere import Scene
from tests.verification.test_same_verdict_everywhere import scene as scene
from trustledger.cli import app

Tamper = Callable[[Scene, str], None]


def _sql(s: Scene, statement: str, **params: object) -> None:
    with s.region.store.engine.begin() as conn:
        conn.execute(text(statement), params)


def _index_says_active(s: Scene, identifier: str) -> None:
    _sql(s, "UPDATE licence_index SET lifecycle = 'active' WHERE identifier = :i", i=identifier)


def _index_extends_validity(s: Scene, identifier: str) -> None:
    later = s.clock.now + timedelta(days=3650)
    _sql(s, "UPDATE licence_index SET valid_until = :u WHERE identifier = :i", u=later, i=identifier)


def _map_value_says_active(s: Scene, identifier: str) -> None:
    _sql(s, "UPDATE status_map_values SET value = replace(value, '\"revoked\"', '\"active\"')")


def _map_nodes_edited(s: Scene, identifier: str) -> None:
    """Rewrite the stored value and every node hash as an attacker with no log key would: the root then moves, and
    the signed checkpoint no longer matches it."""
    _map_value_says_active(s, identifier)
    _sql(s, "UPDATE status_map_nodes SET hash = value_hash WHERE value_hash IS NOT NULL")


def _map_entry_deleted(s: Scene, identifier: str) -> None:
    _sql(s, "DELETE FROM status_map_values")
    _sql(s, "DELETE FROM status_map_nodes")


TAMPERINGS: dict[str, Tamper] = {
    "licence_index.lifecycle": _index_says_active,
    "licence_index.valid_until": _index_extends_validity,
    "status_map_values.value": _map_value_says_active,
    "status_map_nodes.hash": _map_nodes_edited,
    "status map emptied": _map_entry_deleted,
}


def _revoked_or_expired(s: Scene, tampering: str) -> tuple[str, str, str]:
    """(token, identifier, the honest verdict) of a licence the tampering tries to make valid again."""
    if tampering == "licence_index.valid_until":
        view = s.short(days=2)
        s.clock.advance(days=3)
        return view.token, view.identifier, "expired"
    view = s.issue()
    s.region.licences.revoke(view.id, actor=s.amr, reason="吊销")
    return view.token, view.identifier, "revoked"


def _verdicts(s: Scene, token: str) -> dict[str, object]:
    api = s.http.post("/v1/verify/token", json={"token": token}, headers={"Authorization": f"Bearer {s.keys.verifier}"})
    public = s.http.get("/v1/public/verify", params={"token": token})
    page = s.http.get(f"/v/{token}")
    cli = s.cli.invoke(app, ["--json", "verify", token])
    return {"api": api, "public": public, "page": page, "cli": cli}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_tampering_never_flips_a_verdict(scene: Scene, tampering: str) -> None:
    token, identifier, honest = _revoked_or_expired(scene, tampering)
    before = _verdicts(scene, token)
    assert before["api"].json()["verdict"] == honest  # type: ignore[attr-defined]
    TAMPERINGS[tampering](scene, identifier)
    after = _verdicts(scene, token)
    for name in ("api", "public"):
        answer = after[name]
        if answer.status_code == 200:  # type: ignore[attr-defined]
            assert answer.json()["verdict"] == honest, (name, answer.text)  # type: ignore[attr-defined]
        else:
            assert answer.status_code == 503, answer.text  # type: ignore[attr-defined]
            assert answer.json()["type"].endswith("/status-unproven")  # type: ignore[attr-defined]
            assert answer.headers["Retry-After"]  # type: ignore[attr-defined]
    page = after["page"]
    assert page.status_code in {200, 503}  # type: ignore[attr-defined]
    assert 'data-verdict="valid"' not in page.text  # type: ignore[attr-defined]
    cli = after["cli"]
    assert cli.exit_code == 1  # type: ignore[attr-defined]
    assert '"verdict": "valid"' not in cli.stdout  # type: ignore[attr-defined]
    refused = [n for n in ("api", "public") if after[n].status_code == 503]  # type: ignore[attr-defined]
    if refused:  # a refusal is an alarm the operator sees
        metrics = scene.http.get("/metrics", headers={"Authorization": f"Bearer {scene.keys.operator}"}).text
        assert 'trustledger_integrity_alarms_total{kind="status_unproven"' in metrics
        assert "ALARM" in cli.stderr  # type: ignore[attr-defined]


def test_each_surface_says_which_checkpoint_proved_the_status(scene: Scene) -> None:
    view = scene.issue()
    scene.region.licences.suspend(view.id, actor=scene.amr, reason="暂扣")
    answer = scene.http.post(
        "/v1/verify/token", json={"token": view.token}, headers={"Authorization": f"Bearer {scene.keys.verifier}"}
    ).json()
    proven = answer["status_proven"]
    assert answer["verdict"] == "suspended" and json.loads(proven["value"])["status"] == "suspended"
    # the proof it points at checks out with nothing but the log's verifier key
    doc = scene.http.get(proven["proof_url"].replace(scene.region.public_base_url, "")).json()
    key = parse_verifier_key(scene.region.log_signer.verifier.to_string())  # as published
    checked = verify_status_proof(parse_status_proof(doc), key, scene.region.config.origin)
    assert checked.size == proven["checkpoint_size"] and checked.value is not None
    assert checked.value.status == "suspended" and checked.value.identifier == view.identifier
    public = scene.http.get("/v1/public/verify", params={"token": view.token}).json()["status_proven"]
    assert public["checkpoint_size"] == proven["checkpoint_size"] and public["identifier"] is None
    page = scene.http.get(f"/v/{view.token}").text
    assert f'data-checkpoint-size="{proven["checkpoint_size"]}"' in page


def test_clearing_a_key_compromise_column_changes_no_verdict_and_no_trust_list(scene: Scene) -> None:
    """A key's lifecycle is re-derived from its events on the log: the `registry_keys` row only says which keys to
    look at, so `compromised_since = NULL` neither revives its tokens nor drops the compromise from the trust list."""
    view = scene.issue()
    kid = decode_token(b64url_decode(view.token))[0].kid
    scene.region.registry.compromise_key(kid, since=view.valid_from - timedelta(seconds=5))
    _sql(scene, "UPDATE registry_keys SET compromised_since = NULL, retired_at = NULL")
    answer = scene.http.post(
        "/v1/verify/token", json={"token": view.token}, headers={"Authorization": f"Bearer {scene.keys.verifier}"}
    ).json()
    assert (answer["verdict"], answer["reason_code"]) == ("invalid", "key_compromised")
    code, out = scene.run("--json", "verify", view.token)
    assert code == 1 and "key_compromised" in out
    exported = scene.region.settings.home / "after-tampering.json"
    assert scene.run("trust-list", "export", "-o", str(exported))[0] == 0
    listed = [k for issuer in json.loads(exported.read_text())["payload"]["issuers"] for k in issuer["keys"]]
    mine = [k for k in listed if base64.urlsafe_b64decode(k["kid"] + "=" * (-len(k["kid"]) % 4)) == kid]
    assert len(mine) == 1 and mine[0]["compromised_since"] is not None


def test_a_use_answers_with_the_proven_status_or_not_at_all(scene: Scene) -> None:
    use = {"matter_code": "410100-KB-001", "purpose": "开办企业", "consent": "授权书 A-1"}
    auth = {"Authorization": f"Bearer {scene.keys.verifier}"}
    view = scene.issue()
    answer = scene.http.post(f"/v1/licences/{view.id}/verify", json=use, headers=auth)
    assert answer.status_code == 200 and answer.json()["outcome"] == "accepted"
    proven = answer.json()["status_proven"]
    assert json.loads(proven["value"])["status"] == "active" and proven["checkpoint_size"] >= 1
    scene.region.licences.revoke(view.id, actor=scene.amr, reason="吊销")
    _index_says_active(scene, view.identifier)
    refused = scene.http.post(f"/v1/licences/{view.id}/verify", json=use, headers=auth)
    assert refused.status_code == 503 and refused.json()["type"].endswith("/status-unproven"), refused.text
