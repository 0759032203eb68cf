"""`trustledger peers accept|acceptance|verify`: versions through the CLI, and every usage error is exit 2 naming
the option (the happy path of `peers verify` runs against real servers in test_three_regions.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from clock import StartedClock
from tests.anchors.helpers import ed_key
from tests.seals.wiring import FIELDS, holder_uscc
from trustledger.cli import app
from trustledger.region import open_region
from trustledger.settings import Settings

UNREACHABLE = "http://127.0.0.1:9"
PEER = "ledger.js.gov.example/log"
BUSINESS = "11100000000013338W001"
FOOD = "11100000000013338W012"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    spki = ed_key("root:js").public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    root = base64.b64encode(spki).decode()
    added = runner.invoke(app, ["peers", "add", UNREACHABLE, "--origin", PEER, "--root-key", root])
    assert added.exit_code == 0, added.stderr
    return runner


def run(cli: CliRunner, *args: str, code: int = 0) -> tuple[str, str]:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout, result.stderr


def test_accept_stores_a_new_version_each_time(cli: CliRunner) -> None:
    first = json.loads(run(cli, "--json", "peers", "accept", PEER, "--types", BUSINESS, "--note", "营业执照")[0])
    assert (first["version"], first["licence_types"]) == (1, [BUSINESS])
    second = json.loads(run(cli, "--json", "peers", "accept", PEER, "--types", f"{FOOD},{BUSINESS}")[0])
    assert (second["version"], second["licence_types"]) == (2, [BUSINESS, FOOD])
    out, _ = run(cli, "peers", "accept", PEER, "--none")
    assert "version 3 recognises nothing" in out
    history = json.loads(run(cli, "--json", "peers", "acceptance", PEER)[0])["rules"]
    assert [(r["version"], r["licence_types"], r["note"]) for r in history] == [
        (1, [BUSINESS], "营业执照"),
        (2, [BUSINESS, FOOD], ""),
        (3, [], ""),
    ]


def test_accept_refuses_bad_input(cli: CliRunner) -> None:
    refused = run(cli, "peers", "accept", PEER, "--types", "business_licence", code=2)[1]
    assert "--types" in refused and "close matches: business-licence" in refused
    assert "either" in run(cli, "peers", "accept", PEER, code=2)[1]
    assert "either" in run(cli, "peers", "accept", PEER, "--none", "--types", BUSINESS, code=2)[1]
    assert "no peer" in run(cli, "peers", "accept", "ledger.gd.gov.example/log", "--types", BUSINESS, code=1)[1]


def test_accept_takes_catalogue_keys_for_type_codes(cli: CliRunner) -> None:
    rule = json.loads(run(cli, "--json", "peers", "accept", PEER, "--types", f"business-licence,{FOOD}")[0])
    assert sorted(rule["licence_types"]) == sorted([BUSINESS, FOOD])


def test_verify_refuses_bad_input(cli: CliRunner) -> None:
    assert "not a licence token" in run(cli, "peers", "verify", "not-a-token", code=2)[1]
    region = open_region(Settings())
    try:
        own = region.licences.issue(
            type_code=BUSINESS,
            issuer="11410100007409378P",
            holder_id=holder_uscc(),
            holder_name="郑州市龘鑫科技有限公司",
            fields=FIELDS,
        )
    finally:
        region.close()
    assert "own licence" in run(cli, "peers", "verify", own.token, code=2)[1]
    assert "--verifier" in run(cli, "peers", "verify", own.token, "--matter", "320100-001", code=2)[1]
