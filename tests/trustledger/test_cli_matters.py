"""`trustledger matters list|show|lookup` (DESIGN §13) as an operator runs them, on SQLite and PostgreSQL; the matter
catalogue is on the ledger and `trustledger audit` stays green after lookups."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from tests.samples import COMPANY_ID
from tests.trustledger.test_cli_licence import FOOD, run
from trustledger.cli import app

RENEW_FOOD = "410100-SPJY-002"
ZZ_AMR = "11410100007409378P"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    """An initialised region on each database, as every CLI test module here has it."""
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    return runner


def _issue(cli: CliRunner, type_key: str, *fields: str) -> dict[str, str]:
    out = run(
        cli, "--json", "licence", "issue", "--type", type_key, "--holder", COMPANY_ID,
        "--holder-name", "郑州鼎盛餐饮有限公司", "--issuer", ZZ_AMR, *fields,
    )  # fmt: skip
    doc: dict[str, str] = json.loads(out)
    return doc


def test_list_and_show_print_the_published_matters(cli: CliRunner) -> None:
    listed = json.loads(run(cli, "--json", "matters", "list"))["matters"]
    assert RENEW_FOOD in [m["code"] for m in listed]
    shown = json.loads(run(cli, "matters", "show", RENEW_FOOD, "--json"))
    assert [t["fields"] for t in shown["licence_types"]] == [
        ["legal_representative", "address"],
        ["premises", "main_format", "business_items"],
    ]
    assert "食品经营许可（延续）" in run(cli, "matters", "show", RENEW_FOOD)
    assert "CODE" in run(cli, "matters", "show", "410100-NOPE-999", code=2)


def test_lookup_discloses_the_needed_fields_records_uses_and_the_audit_stays_green(cli: CliRunner) -> None:
    business = _issue(
        cli, "business-licence", "--field", "legal_representative=张伟", "--field", "address=郑州市金水区"
    )
    food = _issue(cli, "food-business-licence", *FOOD)
    before = json.loads(run(cli, "--json", "licence", "history", business["id"]))
    doc = json.loads(run(cli, "--json", "matters", "lookup", RENEW_FOOD, "--holder", COMPANY_ID, "--purpose", "延续"))
    by_id = {lic["id"]: lic for lic in doc["licences"]}
    assert set(by_id) == {business["id"], food["id"]}
    assert by_id[business["id"]]["fields"] == {"legal_representative": "张伟", "address": "郑州市金水区"}
    assert by_id[food["id"]]["fields"] == {
        "premises": "郑州市金水区花园路1号",
        "main_format": "餐饮服务经营者",
        "business_items": "热食类食品制售",
    }
    assert doc["prefill"]["premises"]["identifier"] == food["identifier"]
    assert all(lic["outcome"] == "accepted" and lic["status_proven"]["checkpoint_size"] > 0 for lic in doc["licences"])
    after = json.loads(run(cli, "--json", "licence", "history", business["id"]))
    assert len(_events(after)) == len(_events(before)) + 1  # the use, in the licence's history
    assert "ACCEPTED" in run(cli, "matters", "lookup", RENEW_FOOD, "--holder", COMPANY_ID)
    audit = json.loads(run(cli, "--json", "audit"))
    assert "registry_entries" in audit["derived_tables"]


def _events(history: object) -> list[object]:
    if isinstance(history, dict):
        events = history.get("events", history.get("history"))
        assert isinstance(events, list)
        return events
    assert isinstance(history, list)
    return history


@pytest.mark.parametrize("holder", ["91350100M000100Y44", "11010519491231002Y", "12345"])
def test_a_bad_holder_number_is_a_usage_error(cli: CliRunner, holder: str) -> None:
    message = run(cli, "matters", "lookup", RENEW_FOOD, "--holder", holder, code=2)
    assert message.startswith("error: --holder:") and "Traceback" not in message
    assert json.loads(run(cli, "--json", "matters", "lookup", RENEW_FOOD, "--holder", holder, code=2))["error"]
