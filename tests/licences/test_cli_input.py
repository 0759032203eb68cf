"""Hostile input on the `licence` command line: a one-line error naming the option or field, never a traceback, and
nothing written; a compromised token key is an error telling the operator what to run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from trustledger.cli import app

COMPANY = "91350100M000100Y43"
ZZ_AMR = "11410100007409378P"
FOOD = [
    "--field", "legal_representative=张伟", "--field", "premises=郑州市金水区花园路1号",
    "--field", "main_format=餐饮服务经营者", "--field", "business_items=热食类食品制售",
]  # fmt: skip
ISSUE = ["licence", "issue", "--type", "food-business-licence", "--holder", COMPANY, "--issuer", ZZ_AMR, *FOOD]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'ledger.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    return runner


def _run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)  # no traceback
    return result.stdout if code == 0 else result.stderr


def _one_line(text: str) -> str:
    assert text.startswith("error: ") and text.count("\n") == 1, text
    return text


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31", "9999-12-31T23:59:59-14:00"]
)
def test_out_of_range_dates_exit_2_naming_the_option(cli: CliRunner, when: str) -> None:
    err = _one_line(_run(cli, *ISSUE, "--holder-name", "郑州鼎盛", "--valid-from", when, code=2))
    assert "--valid-from" in err and "1900-01-01" in err


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u2066", "\u200b"])
def test_control_characters_exit_1_naming_the_field(cli: CliRunner, char: str) -> None:
    err = _one_line(_run(cli, *ISSUE, "--holder-name", f"郑州{char}鼎盛", code=1))
    assert "holder_name" in err and char not in err
    err = _one_line(
        _run(cli, *ISSUE[:-2], "--field", f"business_items=热食{char}制售", "--holder-name", "郑州", code=1)
    )
    assert "fields.business_items" in err
    lic = json.loads(_run(cli, "--json", *ISSUE, "--holder-name", "郑州鼎盛"))
    assert lic["identifier"].split(".")[-3].endswith("0000001")  # the refused issues took no serial
    err = _one_line(_run(cli, "licence", "suspend", lic["id"], "--reason", f"检查{char}中", code=1))
    assert "reason" in err
    assert json.loads(_run(cli, "--json", "licence", "show", lic["id"]))["status"] == "valid"


def test_a_compromised_token_key_is_one_line_naming_the_command_to_run(cli: CliRunner) -> None:
    for key in json.loads(_run(cli, "--json", "keys", "list", "--owner", ZZ_AMR)):
        _run(cli, "keys", "compromise", key["kid"], "--since", "2000-01-01T00:00:00Z")
    err = _one_line(_run(cli, *ISSUE, "--holder-name", "郑州鼎盛", code=1))
    assert f"trustledger keys rotate {ZZ_AMR}" in err
    _run(cli, "keys", "rotate", ZZ_AMR)
    _run(cli, *ISSUE, "--holder-name", "郑州鼎盛")
