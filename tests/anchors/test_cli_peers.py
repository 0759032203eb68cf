"""The CLI of DESIGN §13 for anchoring and federation: anchor, peers add|list|sync|alarms, witness add-log|list|key."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from anchors.cosignature import parse_cosigner_key
from anchors.model import note_digest
from clock import StartedClock
from tests.anchors.helpers import ed_key, log_signer
from trustledger.anchoring import anchor_store, region_timestamping
from trustledger.cli import app
from trustledger.region import open_region
from trustledger.settings import Settings

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused at once
PEER_ORIGIN = "ledger.js.gov.example/log"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    return runner


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout


def _root_key_b64() -> str:
    spki = ed_key("root:js").public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(spki).decode()


def test_anchor_timestamps_the_latest_checkpoint(cli: CliRunner) -> None:
    doc = json.loads(run(cli, "--json", "anchor"))
    region = open_region(Settings())
    try:
        note = region.log.latest_checkpoint().note  # type: ignore[union-attr]
        assert doc["note_sha256"] == note_digest(note).hex() and doc["cosignatures"] == []
        token = base64.b64decode(doc["timestamp_token"])
        assert region_timestamping(region).verify(token, hashlib.sha256(note.encode()).digest()) is not None
    finally:
        region.close()
    assert json.loads(run(cli, "--json", "anchor"))["gen_time"] == doc["gen_time"]  # same checkpoint: same anchor
    assert "anchored at" in run(cli, "anchor")


def test_witness_commands(cli: CliRunner) -> None:
    key = run(cli, "witness", "key").strip()
    assert parse_cosigner_key(key).name == "ledger.ha.gov.example/witness"
    vkey = log_signer(PEER_ORIGIN).verifier.to_string()
    run(cli, "witness", "add-log", PEER_ORIGIN, vkey)
    listed = json.loads(run(cli, "--json", "witness", "list"))["logs"]
    assert listed == [{"origin": PEER_ORIGIN, "size": 0, "verifier_keys": [vkey]}]


def test_peers_add_list_sync_alarms(cli: CliRunner) -> None:
    run(cli, "peers", "add", UNREACHABLE, code=1)  # unreachable and nothing to pin: refused
    out = run(cli, "peers", "add", UNREACHABLE, "--origin", PEER_ORIGIN, "--root-key", _root_key_b64())
    assert PEER_ORIGIN in out
    run(cli, "peers", "add", UNREACHABLE, "--origin", PEER_ORIGIN, "--root-key", _root_key_b64(), code=1)  # twice
    (peer,) = json.loads(run(cli, "--json", "peers", "list"))["peers"]
    assert peer["origin"] == PEER_ORIGIN and peer["trust_list_version"] is None
    sync = cli.invoke(app, ["--json", "peers", "sync"])
    assert sync.exit_code == 1
    doc = json.loads(sync.stdout)
    assert doc["ok"] is False and doc["results"][0]["fork"] is False and "failed" in doc["results"][0]["error"]
    (peer,) = json.loads(run(cli, "--json", "peers", "list"))["peers"]
    assert peer["last_error"] is not None
    run(cli, "peers", "sync", "nobody.example/log", code=1)
    alarms = json.loads(run(cli, "--json", "peers", "alarms"))
    assert alarms["alarms"] == []
    region = open_region(Settings())
    try:
        anchor_store(region).raise_alarm(
            origin=PEER_ORIGIN,
            kind="fork-same-size",
            detail="two roots",
            first=(3, "one"),
            second=(3, "two"),
            proof=(),
            now=region.clock(),
        )
    finally:
        region.close()
    assert "fork-same-size" in run(cli, "peers", "alarms", code=1)  # evidence present: exit 1


@pytest.mark.parametrize(
    "args",
    [
        ["peers", "add", "ftp://x.example"],
        ["peers", "add", UNREACHABLE, "--origin", PEER_ORIGIN, "--root-key", "bm90IGEga2V5"],
        ["peers", "add", UNREACHABLE, "--origin", PEER_ORIGIN, "--root-key", _root_key_b64(), "--witness-key", "x+1"],
        ["peers", "sync", "a", "b"],
        ["anchor", "extra"],
        ["witness", "add-log", PEER_ORIGIN, "not-a-key"],
        ["witness", "add-log", PEER_ORIGIN],
    ],
)
def test_usage_errors_exit_2_before_anything_is_opened(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "no-region-here"))
    run(CliRunner(), *args, code=2)
