"""The CLI contract of DESIGN §13 for the ledger commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from clock import StartedClock
from ledger.merkle import leaf_hash, verify_consistency, verify_inclusion
from signatures.note import open_checkpoint, parse_verifier_key
from trustledger.cli import app
from trustledger.region import open_region
from trustledger.settings import Settings


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout


def test_init_is_idempotent_and_refuses_a_new_identity(cli: CliRunner) -> None:
    run(cli, "init", "--region-code", "320000", "--region-name", "江苏省", "--origin", "ledger.js.gov.example/log")
    out = json.loads(run(cli, "--json", "init"))
    assert out["origin"] == "ledger.js.gov.example/log"
    run(cli, "init", "--origin", "other.example/log", code=1)
    run(cli, "init", "--region-code", "32", code=2)  # malformed: a usage error


def test_log_commands_verify_independently(cli: CliRunner) -> None:
    base = json.loads(run(cli, "--json", "init"))["log_size"]  # init publishes the catalogue and keys as events
    assert base > 0
    run(cli, "bench", "append", "--events", "300", "--batch", "7", "--into-region")
    n = base + 300
    note = run(cli, "log", "checkpoint")
    vkey = run(cli, "log", "verifier-key").strip()
    assert vkey.count("+") == 2  # naive `split("+")` parsers work on our key too
    verifier = parse_verifier_key(vkey)
    body = open_checkpoint(note, verifier, "ledger.ha.gov.example/log")
    assert body.size == n
    leaf = base64.b64decode(run(cli, "log", "leaf", "150").strip(), validate=True)
    proof = json.loads(run(cli, "log", "proof", "inclusion", "150", "--size", str(n)))
    assert (proof["leaf_index"], proof["tree_size"]) == (150, n)
    verify_inclusion(150, n, leaf_hash(leaf), [base64.b64decode(h) for h in proof["hashes"]], body.root_hash)
    run(cli, "bench", "append", "--events", "50", "--into-region")
    note2 = run(cli, "log", "checkpoint")
    body2 = open_checkpoint(note2, verifier)
    cons = json.loads(run(cli, "log", "proof", "consistency", str(n), str(n + 50)))
    verify_consistency(n, n + 50, body.root_hash, body2.root_hash, [base64.b64decode(h) for h in cons["hashes"]])
    assert run(cli, "log", "checkpoint") == note2  # no growth, no new checkpoint
    report = json.loads(run(cli, "--json", "audit"))
    assert report["ok"] is True and report["leaves"] == n + 50 and report["checkpoints"] == 3


def test_errors_and_exit_codes(cli: CliRunner) -> None:
    run(cli, "audit", code=1)  # not initialised
    size = json.loads(run(cli, "--json", "init"))["log_size"]
    run(cli, "log", "proof", "inclusion", str(size), code=1)
    run(cli, "log", "leaf", str(size + 99), code=1)
    run(cli, "log", "proof", "inclusion", "five", code=2)
    run(cli, "bench", "append", code=2)
    run(cli, "no-such-command", code=2)


def test_audit_exit_1_names_the_first_bad_index(cli: CliRunner) -> None:
    run(cli, "init")
    run(cli, "bench", "append", "--events", "40", "--batch", "10", "--into-region")
    run(cli, "log", "checkpoint")
    region = open_region(Settings())
    with region.store.engine.begin() as conn:
        bad = region.log.size() - 23
        conn.execute(text("UPDATE ledger_events SET state = :s WHERE leaf_index = :i"), {"s": b'{"n":-1}', "i": bad})
    region.close()
    result = cli.invoke(app, ["audit"])
    assert result.exit_code == 1
    assert f"index {bad}" in result.stderr
    doc = json.loads(cli.invoke(app, ["--json", "audit"]).stdout)
    assert doc == {"ok": False, "first_bad_index": bad, "reason": doc["reason"]}
