"""The CLI contract (README, DESIGN §13) across commands: exit codes, `--json` anywhere, `--version`, one-line errors,
catalogue keys wherever type codes and USCCs are taken, and `catalogue list|show`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

import trustledger.region as region_module
from clock import StartedClock
from licences.catalogue import load_catalogue
from tests.conftest import START
from trustledger.cli import app
from trustledger.cli_common import hoist_json, package_version

BUSINESS = "11100000000013338W001"
HA_AMR = "11410000005164805L"
COMPANY = "91350100M000100Y43"


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRunner]:
    """One initialised SQLite region for the module (the commands here read more than they write)."""
    home = tmp_path_factory.mktemp("contract")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRUSTLEDGER_HOME", str(home))
        patch.setenv("TRUSTLEDGER_DATABASE_URL", f"sqlite:///{home / 'ledger.db'}")
        shared = StartedClock(START)
        patch.setattr(region_module, "region_clock", lambda settings: shared)
        runner = CliRunner()
        assert runner.invoke(app, ["init"]).exit_code == 0
        yield runner


def run(cli: CliRunner, *args: str, code: int = 0) -> tuple[str, str]:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
    return result.stdout, result.stderr


@pytest.fixture(scope="module")
def licence(cli: CliRunner) -> dict[str, str]:
    out, _ = run(
        cli, "licence", "issue", "--type", "business-licence", "--holder", COMPANY,
        "--holder-name", "郑州鼎盛商贸有限公司", "--issuer", "ha-amr", "--field", "legal_representative=张伟", "--json",
    )  # fmt: skip
    doc: dict[str, str] = json.loads(out)
    return doc


# -- catalogue -------------------------------------------------------------------------------------------------------


def test_catalogue_list_names_every_type_with_its_departments(cli: CliRunner) -> None:
    doc = json.loads(run(cli, "catalogue", "list", "--json")[0])
    types = {t["code"]: t for t in doc["licence_types"]}
    assert len(types) == len(load_catalogue().licence_types)
    business = types[BUSINESS]
    assert (business["key"], business["name_zh"], business["name_en"]) == (
        "business-licence",
        "营业执照",
        "Business Licence",
    )
    assert business["holder_kind"] == "organisation"
    assert {"key": "ha-amr", "uscc": HA_AMR}.items() <= business["issuing_departments"][0].items()
    text = run(cli, "catalogue", "list")[0]
    assert BUSINESS in text and "business-licence" in text and "河南省市场监督管理局" in text


def test_catalogue_show_by_key_or_code(cli: CliRunner) -> None:
    by_key = json.loads(run(cli, "--json", "catalogue", "show", "driving-licence")[0])
    by_code = json.loads(run(cli, "catalogue", "show", by_key["code"], "--json")[0])
    assert by_key == by_code
    assert by_key["validity"] == {"kind": "fixed_years", "years": 6} and by_key["renewal_window_days"] == 90
    sex = next(f for f in by_key["required_fields"] if f["name"] == "sex")
    assert sex | {"label_zh": "性别", "label_en": "Sex", "type": "string", "choices": ["男", "女"]} == sex
    assert [d["key"] for d in by_key["issuing_departments"]] == ["zz-traffic-police"]
    text = run(cli, "catalogue", "show", "business-licence")[0]
    assert "required fields" in text and "法定代表人" in text and "optional fields" in text


def test_catalogue_show_unknown_type_is_usage_naming_close_matches(cli: CliRunner) -> None:
    _, err = run(cli, "catalogue", "show", "driving_licence", code=2)
    assert err.startswith("error: TYPE:") and "close matches: driving-licence" in err
    _, err = run(cli, "--json", "catalogue", "show", "nothing-like-it", code=2)
    assert "TYPE" in json.loads(err)["error"]


def test_close_matches_in_the_catalogue_resolver() -> None:
    catalogue = load_catalogue()
    assert catalogue.licence_type("business-licence") is catalogue.licence_type(BUSINESS)
    assert catalogue.department("ha-amr") is catalogue.department(HA_AMR)
    with pytest.raises(KeyError, match="close matches: ha-amr"):
        catalogue.department("HA_AMR")
    with pytest.raises(KeyError, match=BUSINESS):
        catalogue.licence_type(BUSINESS[:-1] + "2")


# -- catalogue keys wherever codes and USCCs are taken ---------------------------------------------------------------


def test_licence_issue_takes_catalogue_keys(licence: dict[str, str]) -> None:
    assert licence["identifier"].startswith(f"1.2.156.3005.2.{BUSINESS}.{HA_AMR}.")


@pytest.mark.parametrize(
    ("option", "value", "hint"),
    [("--type", "business_licence", "business-licence"), ("--issuer", "ha_amr", "ha-amr")],
)
def test_licence_issue_unknown_type_or_issuer_is_usage(cli: CliRunner, option: str, value: str, hint: str) -> None:
    args = {"--type": "business-licence", "--issuer": "ha-amr", option: value}
    _, err = run(
        cli, "licence", "issue", "--holder", COMPANY, "--holder-name", "某某有限公司",
        "--field", "legal_representative=张伟", *(x for kv in args.items() for x in kv), code=2,
    )  # fmt: skip
    assert err.startswith(f"error: {option}:") and hint in err


def test_keys_rotate_and_list_take_a_department_key(cli: CliRunner) -> None:
    rotated = json.loads(run(cli, "--json", "keys", "rotate", "ha-amr")[0])
    assert rotated["owner"] == HA_AMR
    listed = json.loads(run(cli, "keys", "list", "--owner", "ha-amr", "--json")[0])
    assert {k["owner"] for k in listed} == {HA_AMR} and rotated["kid"] in {k["kid"] for k in listed}
    _, err = run(cli, "keys", "rotate", "ha_amr", code=2)
    assert "ISSUER" in err and "ha-amr" in err


# -- --json anywhere, --version ----------------------------------------------------------------------------------------


def test_hoist_json_moves_the_flag_before_the_command_but_not_past_a_double_dash() -> None:
    assert hoist_json(["licence", "show", "X", "--json"]) == ["--json", "licence", "show", "X"]
    assert hoist_json(["--json", "log", "leaf", "1", "--json"]) == ["--json", "log", "leaf", "1"]
    assert hoist_json(["import", "--", "--json"]) == ["import", "--", "--json"]
    assert hoist_json(["log", "checkpoint"]) == ["log", "checkpoint"]


@pytest.mark.parametrize(
    "command",
    [
        ["catalogue", "list"],
        ["log", "verifier-key"],
        ["keys", "list"],
        ["licence", "show", "{id}"],
        ["licence", "history", "{identifier}"],
        ["status", "proof", "{identifier}"],
    ],
)
def test_json_before_or_after_the_command_is_the_same(
    cli: CliRunner, licence: dict[str, str], command: list[str]
) -> None:
    args = [a.format(**licence) for a in command]
    before = json.loads(run(cli, "--json", *args)[0])
    after = json.loads(run(cli, *args, "--json")[0])
    if command[0] == "licence" and command[1] == "show":
        before.pop("status_checked_at", None), after.pop("status_checked_at", None)
    assert before == after


def test_version(cli: CliRunner) -> None:
    assert run(cli, "--version")[0].strip() == f"trustledger {package_version()}"
    assert json.loads(run(cli, "--json", "--version")[0]) == {"version": package_version()}
    assert package_version()[0].isdigit()


# -- exit codes: 1 checked and failed, 2 usage; one line on stderr, no traceback -------------------------------------

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
WRONG = [
    (["licence", "show"], 2),  # missing argument
    (["licence", "show", "{id}", "--bogus"], 2),  # unknown option
    (["log", "leaf", "abc"], 2),  # bad value
    (["nosuch"], 2),  # unknown command
    (["licence", "show", "not-an-id"], 2),  # neither a UUID nor an identifier
    (["licence", "show", UNKNOWN_UUID], 1),  # well-formed, not in the library
    (["--json", "licence", "history", UNKNOWN_UUID], 1),
    (["licence", "issue", "--type", "nope", "--holder", COMPANY, "--holder-name", "某", "--issuer", "ha-amr"], 2),
    (["licence", "renew", "{id}", "--valid-until", "2026-13-01"], 2),
    (["licence", "suspend", "{id}", "--reason", "x", "--actor", "nowhere"], 2),
    (["licence", "shred-holder", "123", "--yes"], 2),  # malformed holder ID
    (["catalogue", "show", "nope"], 2),
    (["keys", "rotate", "nope"], 2),
    (["keys", "compromise", "zz", "--since", "2026-01-01T00:00:00Z"], 2),
    (["keys", "compromise", "00" * 8, "--since", "2026-01-01T00:00:00Z"], 1),  # no such key
    (["log", "leaf", "99999999"], 1),  # beyond the tree
    (["init", "--region-code", "32"], 2),
    (["trust-list", "export", "--version", "999"], 1),  # no such version
    (["bench", "append", "--events", "0"], 2),
    (["demo", "seed"], 2),
    (["import", "/nonexistent.csv"], 2),
    (["verify", "not-a-token", "--at", "yesterday"], 2),
    (["peers", "accept", "ledger.gd.gov.example/log", "--types", "no-such-licence"], 2),
]


@pytest.mark.parametrize(("args", "code"), WRONG, ids=[" ".join(a) for a, _ in WRONG])
def test_wrong_invocations_exit_as_the_contract_says(
    cli: CliRunner, licence: dict[str, str], args: list[str], code: int
) -> None:
    result = cli.invoke(app, [a.format(**licence) for a in args])
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    if args[0] == "--json":
        assert set(json.loads(lines[0])) == {"error"}
    else:
        assert lines[0].startswith("error: ")


def test_no_arguments_prints_help_and_exits_2(cli: CliRunner) -> None:
    result = cli.invoke(app, [])
    assert result.exit_code == 2 and "Usage" in result.stdout + result.stderr


def test_import_help_lists_the_columns_and_the_check_character(cli: CliRunner) -> None:
    text = " ".join(run(cli, "import", "--help")[0].split())
    for column in ("identifier", "type", "issuer", "holder_id", "holder_name", "valid_from", "valid_until", "status"):
        assert column in text
    assert "fields.NAME" in text and "catalogue key" in text
    assert "ISO 7064 MOD 37,36" in text and "(37 - p) mod 36" in text


def test_import_accepts_catalogue_keys(cli: CliRunner, tmp_path: Path) -> None:
    from licences.identifiers import make_identifier

    identifier = make_identifier(BUSINESS, HA_AMR, "IMP0000001")
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "identifier,type,issuer,holder_id,holder_name,valid_from,fields.legal_representative\n"
        f"{identifier},business-licence,ha-amr,{COMPANY},郑州鼎盛商贸有限公司,2024-01-02,张伟\n",
        encoding="utf-8",
    )
    report = json.loads(run(cli, "import", str(rows), "--json")[0])
    assert report["imported"] == 1, report
