"""API keys: only digests stored, constant-time match, revocation, principal checks, and the `apikey` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from trustledger.cli import app as cli
from trustledger.region import Region
from verify_api.apikeys import Role, check_principal, key_hash, matches, new_key, split_key
from verify_api.errors import ApiKeyError
from verify_api.store import ApiKeyStore


def test_store_keeps_only_the_digest(region_on_each_db: Region) -> None:
    region = region_on_each_db
    store = ApiKeyStore(region.store.engine)
    police = region.catalogue.department("zz-traffic-police").uscc
    created = store.create(Role.ISSUER, police, "交警支队审批科", region.clock())
    assert created.key.startswith(f"tlk_{created.record.key_id}_")
    with region.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_keys")).all()
    secret = created.key.split("_", 2)[2]  # the secret itself may contain "_" (URL-safe base64)
    assert created.key not in repr(rows) and secret not in repr(rows)
    assert key_hash(created.key) in repr(rows)
    found = store.lookup(created.key)
    assert found is not None and matches(found, created.key) and found.as_principal().principal == police
    assert not matches(found, created.key[:-1] + ("y" if created.key.endswith("x") else "x"))
    revoked = store.revoke(created.record.key_id, region.clock())
    assert revoked.revoked_at is not None and not revoked.active
    assert not matches(revoked, created.key)
    assert store.revoke(created.record.key_id, region.clock()).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(ApiKeyError, match="no API key"):
        store.revoke("0" * 12, region.clock())
    assert [k.key_id for k in store.list()] == [created.record.key_id]


def test_key_format_and_principals() -> None:
    key_id, key = new_key()
    assert split_key(key) == key_id and len(key) == 3 + 1 + 12 + 1 + 43
    for bad in ("", "tlk_" + key_id, key + "x", key.replace("tlk", "tlx"), "tlk_" + "Z" * 12 + key[16:]):
        assert split_key(bad) is None
    assert check_principal(Role.VERIFIER, "一网通办") == "一网通办"
    with pytest.raises(ApiKeyError, match="USCC"):
        check_principal(Role.ISSUER, "11410100003615377X")
    with pytest.raises(ApiKeyError, match="printable"):
        check_principal(Role.AUDITOR, "bad\nname")


def test_apikey_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, region: Region) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(region.settings.home))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", region.settings.resolved_database_url())
    runner = CliRunner()
    police = region.catalogue.department("zz-traffic-police").uscc
    made = runner.invoke(cli, ["--json", "apikey", "create", "--role", "issuer", "--principal", police, "--name", "p"])
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    assert created["key"].startswith("tlk_") and created["role"] == "issuer" and created["principal"] == police
    listed = json.loads(runner.invoke(cli, ["--json", "apikey", "list"]).stdout)
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert runner.invoke(cli, ["apikey", "revoke", created["id"]]).exit_code == 0
    assert json.loads(runner.invoke(cli, ["--json", "apikey", "list"]).stdout)[0]["active"] is False
    for args, code in (
        (["apikey", "create", "--role", "issuer", "--principal", "91410100MA00000000"], 2),  # not a USCC
        (["apikey", "create", "--role", "issuer", "--principal", "zz-traffic-police"], 2),  # a key, not the USCC
        (["apikey", "create", "--role", "king", "--principal", "x"], 2),
        (["apikey", "revoke", "nope"], 2),
        (["apikey", "revoke", "0" * 12], 1),
    ):
        result = runner.invoke(cli, args)
        assert result.exit_code == code, (args, result.output)
