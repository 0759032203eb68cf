"""A region whose log predates the status map gets the very map it would have had: `trustledger init` rebuilds it
from the events, at the sizes they had, and signs a checkpoint committing to it (on both databases)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from signatures.note import parse_verifier_key
from signatures.statusproof import parse_status_proof, verify_status_proof
from tests.trustledger.test_cli_audit import _exec, _sql, run
from tests.trustledger.test_cli_audit import cli as cli
from tests.trustledger.test_cli_audit import demo as demo


def test_init_rebuilds_an_empty_map_from_the_events_and_the_audit_agrees(cli: CliRunner, demo: dict[str, str]) -> None:
    licence = json.loads(run(cli, "--json", "licence", "show", next(iter(demo.values()))))
    run(cli, "licence", "revoke", licence["id"], "--reason", "主动注销")
    before = json.loads(run(cli, "status", "proof", licence["identifier"]))
    _sql(_exec("DELETE FROM status_map_values", "DELETE FROM status_map_nodes"))  # as on a region older than the map
    failed = run(cli, "audit", code=1)
    assert "status_map" in failed
    run(cli, "init")
    after = json.loads(run(cli, "status", "proof", licence["identifier"]))
    key = parse_verifier_key(run(cli, "log", "verifier-key").strip())
    proven = verify_status_proof(parse_status_proof(after), key)
    assert proven.value is not None and proven.value.status == "revoked"
    assert after["value"] == before["value"]  # the same entry, event index included
    assert "audit OK" in run(cli, "audit")  # every committed root agrees with the rebuilt map
