"""The `licence` commands of DESIGN §13 as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from tests.conftest import START
from trustledger.cli import app

COMPANY = "91350100M000100Y43"
CHINA = ZoneInfo("Asia/Shanghai")
VALID_UNTIL = (START.astimezone(CHINA) + timedelta(days=425)).date()  # a date on the command line, 14 months on
FOOD = [
    "--field", "legal_representative=张伟", "--field", "premises=郑州市金水区花园路1号",
    "--field", "main_format=餐饮服务经营者", "--field", "business_items=热食类食品制售",
]  # fmt: skip


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    return runner


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def issue_food(cli: CliRunner, *extra: str) -> dict[str, object]:
    out = run(
        cli, "--json", "licence", "issue", "--type", "food-business-licence", "--holder", COMPANY,
        "--holder-name", "郑州鼎盛餐饮有限公司", "--issuer", "11410100007409378P", *FOOD, *extra,
    )  # fmt: skip
    doc: dict[str, object] = json.loads(out)
    return doc


def test_issue_prints_the_contract_keys_and_the_lifecycle_runs(cli: CliRunner) -> None:
    lic = issue_food(cli, "--valid-until", VALID_UNTIL.isoformat())
    assert {"id", "identifier", "leaf_index", "token", "qr_url", "valid_until", "status"} <= lic.keys()
    assert lic["status"] == "valid" and str(lic["qr_url"]).endswith("/v/" + str(lic["token"]))
    midnight = datetime.combine(VALID_UNTIL, time(0), CHINA).astimezone(
        UTC
    )  # 00:00 China time is 16:00Z the day before
    assert lic["valid_until"] == midnight.strftime("%Y-%m-%dT%H:%M:%SZ") and midnight.hour == 16
    lid = str(lic["id"])
    assert json.loads(run(cli, "--json", "licence", "show", str(lic["identifier"])))["id"] == lid
    run(cli, "licence", "suspend", lid, "--reason", "食品安全检查")
    refused = run(
        cli, "licence", "use", lid, "--verifier", "政务服务网", "--matter", "M-1", "--purpose", "开办", code=1
    )
    assert "licence_suspended" in refused
    run(cli, "licence", "reinstate", lid)
    amended = json.loads(run(cli, "--json", "licence", "amend", lid, "--field", "premises=郑州市农业路2号"))
    assert amended["licence_version"] == 2 and amended["token"] != lic["token"]
    used = json.loads(
        run(cli, "--json", "licence", "use", lid, "--verifier", "政务服务网", "--matter", "M-1", "--purpose", "开办")
    )
    assert used["outcome"] == "accepted"
    run(cli, "licence", "revoke", lid, "--reason", "主动注销", "--kind", "voluntary")
    assert "revoked" in run(cli, "licence", "renew", lid, code=1)
    history = json.loads(run(cli, "--json", "licence", "history", lid))["events"]
    assert [e["kind"] for e in history] == [
        "issued",
        "suspended",
        "invoked",
        "reinstated",
        "amended",
        "invoked",
        "revoked",
    ]
    assert [e["leaf_index"] for e in history] == sorted(e["leaf_index"] for e in history)
    assert history[0]["leaf_index"] == lic["leaf_index"]
    assert json.loads(run(cli, "--json", "audit"))["ok"] is True


def test_idempotency_key_on_the_command_line(cli: CliRunner) -> None:
    first = issue_food(cli, "--idempotency-key", "batch-7/row-1")
    size = json.loads(run(cli, "--json", "audit"))["leaves"]
    assert issue_food(cli, "--idempotency-key", "batch-7/row-1")["id"] == first["id"]
    assert json.loads(run(cli, "--json", "audit"))["leaves"] == size


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--holder", "91350100M000100Y42"], 1, "holder_id"),  # bad check character
        (["--issuer", "11410000005164805L"], 1, "not authorised"),  # 省局 does not issue 食品经营许可证
        (["--valid-until", "2027-13-01"], 2, "--valid-until"),
        (["--field", "premises"], 2, "NAME=VALUE"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(cli: CliRunner, args: list[str], code: int, message: str) -> None:
    size = json.loads(run(cli, "--json", "audit"))["leaves"]
    base = {"--holder": COMPANY, "--issuer": "11410100007409378P"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    flat = [x for k, v in base.items() if k != "--field" for x in (k, v)]
    extra = ["--field", base["--field"]] if "--field" in base else []
    err = run(
        cli, "licence", "issue", "--type", "food-business-licence", "--holder-name", "某公司", *flat, *FOOD, *extra,
        code=code,
    )  # fmt: skip
    assert message in err
    assert json.loads(run(cli, "--json", "audit"))["leaves"] == size
    run(cli, "licence", "show", "no-such-licence", code=2)  # neither a UUID nor an identifier: usage
    run(cli, "licence", "show", "00000000-0000-4000-8000-000000000000", code=1)  # well-formed, not in the library


def test_shred_holder_needs_confirmation_and_keeps_the_log_valid(cli: CliRunner) -> None:
    lic = issue_food(cli)
    run(cli, "licence", "shred-holder", COMPANY, code=2)
    out = json.loads(run(cli, "--json", "licence", "shred-holder", COMPANY, "--yes"))
    assert out["shredded"] is True
    assert json.loads(run(cli, "--json", "licence", "show", str(lic["id"])))["status"] == "valid"
    assert json.loads(run(cli, "--json", "audit"))["ok"] is True
