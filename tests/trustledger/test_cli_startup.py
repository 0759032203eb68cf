"""The command loads only what it runs: `trustledger --help` and `verify --offline` never import the database, PDF,
migration or HTTP stacks (checked on the modules a fresh interpreter loaded, not by timing; `python -m bench cli`
measures the time), and the root help's static table says what each lazily loaded command says of itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from typer._click.exceptions import ClickException
from typer.testing import CliRunner

from tests.conftest import FakeClock
from trustledger import cli_common, cli_fast, cli_trust
from trustledger.cli import LAZY, RootGroup, app
from trustledger.cli_common import ContractGroup, LazyCommand
from trustledger.region import init_region, open_region
from trustledger.settings import Settings

HEAVY = ("sqlalchemy", "alembic", "pyhanko", "aiohttp", "fastapi", "uvicorn", "reportlab", "psycopg")
ROOT = Path(__file__).resolve().parents[2]
# Runs the command in this interpreter, then reports every module it imported on stderr after a marker line.
PROBE = """
import json, sys
from trustledger.cli import main
sys.argv = ["trustledger", *json.loads(sys.argv[1])]
try:
    main()
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\n@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}) + "\\n")
"""


def _probe(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str, str]:
    """(exit code, modules imported, stdout, stderr) of `trustledger ARGS` through the console entry point."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    stderr, report_line = done.stderr.rsplit("\n@@", 1)
    report = json.loads(report_line)
    return report["code"], set(report["modules"]), done.stdout, stderr


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    code, modules, out, _ = _probe(*args, env=env)
    return code, modules, out


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_root_help_imports_no_storage_pdf_or_web_stack() -> None:
    code, modules, out = _run("--help")
    assert code == 0 and "verify" in out and "matters" in out
    assert _heavy(modules) == []
    loaded = modules - {"trustledger.cli_common", "trustledger.cli_fast"}  # cli_fast: the entry point's argv check
    assert not any(m.startswith(("trustledger.region", "trustledger.cli_")) for m in loaded)


def test_a_subcommand_loads_its_module_only_when_run() -> None:
    code, modules, out = _run("trust-list", "--help")
    assert code == 0 and "export" in out
    assert "trustledger.cli_trust" in modules and "trustledger.cli_licence" not in modules


@pytest.fixture
def offline_inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path, str, str]]:
    """(token, exported trust list, root key, now) of a fresh SQLite region on a fake clock: the offline check reads
    no database, so one backend is enough here (the trust list store runs on both in test_trust.py)."""
    home = tmp_path / "home"
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(home))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", f"sqlite:///{tmp_path / 'home.db'}")
    clock = FakeClock()
    init_region(Settings(), None, None, None, clock).close()
    clock.advance(hours=1)
    monkeypatch.setattr(cli_common, "open_region", lambda settings: open_region(settings, clock))
    region = open_region(Settings(), clock)
    try:
        view = region.licences.issue(
            type_code="11100000000013338W001", issuer="11410000005164805L", holder_id="91350100M000100Y43",
            holder_name="某某有限公司", fields={"legal_representative": "王五"},
        )  # fmt: skip
        runner, trust_list = CliRunner(), tmp_path / "tl.json"
        assert runner.invoke(app, ["trust-list", "export", "-o", str(trust_list)]).exit_code == 0
        root_key = runner.invoke(app, ["trust-list", "root-key"]).stdout.strip()
        yield view.token, trust_list, root_key, clock.now.isoformat()
    finally:
        region.close()


def test_offline_verify_imports_no_storage_pdf_or_web_stack(offline_inputs: tuple[str, Path, str, str]) -> None:
    token, trust_list, root_key, now = offline_inputs
    args = ("--json", "verify", "--offline", token, "--trust-list", str(trust_list), "--root-key", root_key)
    code, modules, out = _run(*args, "--at", now)
    assert code == 0 and json.loads(out)["valid"] is True
    assert _heavy(modules) == []
    assert "trustledger.region" not in modules and "trustledger.cli_seals" not in modules


# What an offline check never needs: the online check and the licence domain with eventsourcing (~50 ms), and
# pydantic, which typer loads to build a `TypeAdapter` per parameter of the command it runs (~45 ms; the entry point
# parses a plain offline verify itself, `trustledger.cli_fast`).
ONLINE_ONLY = ("eventsourcing", "licences.domain", "verification.online", "pydantic")


def _online_only(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == o or m.startswith(o + ".") for o in ONLINE_ONLY))


def test_offline_verify_loads_neither_the_online_check_nor_pydantic(
    offline_inputs: tuple[str, Path, str, str],
) -> None:
    token, trust_list, root_key, now = offline_inputs
    code, modules, out = _run(
        "verify", "--offline", token, "--trust-list", str(trust_list), "--root-key", root_key, "--at", now, "--json"
    )
    assert code == 0 and json.loads(out)["valid"] is True
    assert _online_only(modules) == []
    assert "trustledger.settings" not in modules  # with --root-key and --at nothing of the home is read
    assert "signatures.keys" not in modules  # ... not even the keystore


def test_offline_verify_on_the_home_key_and_clock_opens_no_region(offline_inputs: tuple[str, Path, str, str]) -> None:
    token, trust_list, _, now = offline_inputs
    env = os.environ | {"TRUSTLEDGER_CLOCK_AT": now}  # the region's clock, read from the settings alone
    code, modules, out = _run("--json", "verify", "--offline", token, "--trust-list", str(trust_list), env=env)
    doc = json.loads(out)
    assert code == 0 and doc["valid"] is True and doc["checked_at"] == now.replace("+00:00", "Z")
    assert _heavy(modules) == []
    assert not any(m.startswith(("trustledger.region", "trustledger.cli_seals")) for m in modules)
    assert [m for m in _online_only(modules) if not m.startswith("pydantic")] == []  # settings are pydantic's


def test_the_fast_path_answers_exactly_as_typer_does(offline_inputs: tuple[str, Path, str, str]) -> None:
    token, trust_list, root_key, now = offline_inputs
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
    tl, key = str(trust_list), ("--root-key", root_key)
    lines = [
        ("verify", "--offline", token, "--trust-list", tl, *key, "--at", now),  # text report
        ("--json", "verify", token, "--offline", f"--trust-list={tl}", *key, f"--at={now}"),
        ("verify", "--json", "--offline", forged, "--trust-list", tl, *key, "--at", now),  # exit 1
        ("verify", "--offline", token, "--trust-list", tl, *key, "--at", "yesterday"),  # exit 2, the option named
        ("verify", "--offline", token, "--trust-list", str(trust_list.with_name("none.json")), *key, "--at", now),
        ("verify", "--offline", token, "--trust-list", tl, "--root-key", "not-a-key", "--at", now, "--json"),
    ]
    for args in lines:
        assert cli_fast.parse_offline_verify(args) is not None, args  # these take the fast path
        code, _, out, err = _probe(*args)
        typer_run = CliRunner().invoke(app, list(args))
        assert (code, out, err) == (typer_run.exit_code, typer_run.stdout, typer_run.stderr), args


def test_anything_else_is_left_to_typer(offline_inputs: tuple[str, Path, str, str]) -> None:
    token, trust_list, _, now = offline_inputs
    tl = str(trust_list)
    for args in (
        ("verify", "--offline", token),  # no trust list: typer's command says so
        ("verify", token, "--trust-list", tl),  # online
        ("verify", "--offline", token, "--trust-list", tl, "--help"),
        ("verify", "--offline", token, "--trust-list", tl, "--at"),  # option without its value
        ("verify", "--offline", token, "--trust-list", tl, "--at", now, "--at", now),
        ("verify", "--offline", "--offline", token, "--trust-list", tl),
        ("verify", "--offline", token, token, "--trust-list", tl),
        ("verify", "--offline", "--", token, "--trust-list", tl),
        ("verify", "--offline", token, "--trust-list", tl, "--root-key", "-x"),
        ("verify", "--offline", token, "--trust-list", tl, "--unknown"),
        ("--version", "verify", "--offline", token, "--trust-list", tl),
        ("licence", "show", "--offline", token, "--trust-list", tl),
    ):
        assert cli_fast.parse_offline_verify(args) is None, args
    code, _, out, err = _probe("verify", "--offline", token, "--at", now)
    assert (code, out) == (
        2,
        "",
    ) and err.strip() == "error: --offline needs --trust-list FILE (no database, no network)"
    code, _, out, err = _probe("verify", "--offline", token, "--trust-list", tl, "--bogus")
    assert code == 2 and out == "" and "No such option: --bogus" in err


def test_offline_verify_of_a_forged_token_still_fails(offline_inputs: tuple[str, Path, str, str]) -> None:
    token, trust_list, root_key, now = offline_inputs
    forged = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")  # the signature's last bytes
    args = ("--json", "verify", "--offline", forged, "--trust-list", str(trust_list), "--root-key", root_key)
    code, _, out = _run(*args, "--at", now)
    doc = json.loads(out)
    assert code == 1 and doc["valid"] is False
    assert [r["code"] for r in doc["reasons"]] == ["bad_signature"]


def test_the_static_help_is_what_each_command_says_of_itself() -> None:
    group = RootGroup(name="trustledger")
    for name, entry in LAZY.items():
        command = group.get_command(None, name)  # type: ignore[arg-type]  # the lazy lookup needs no context
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=1000) == entry.help, name


def _missing(app_: object) -> None:
    raise ModuleNotFoundError("No module named 'trustledger.cli_nowhere'", name="trustledger.cli_nowhere")


class _Partial(ContractGroup):
    lazy: ClassVar[Mapping[str, LazyCommand]] = {"nowhere": LazyCommand("A group not in this build.", _missing)}


def test_a_command_whose_module_is_missing_fails_with_one_line() -> None:
    import typer

    partial = typer.Typer(cls=_Partial, add_completion=False)
    partial.callback()(lambda: None)
    listed = CliRunner().invoke(partial, ["--help"])
    assert listed.exit_code == 0 and "nowhere" in listed.stdout and "A group not in this build." in listed.stdout
    result = CliRunner().invoke(partial, ["nowhere", "list"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: `nowhere` is not available in this installation: No module named 'trustledger.cli_nowhere'"
    )


@pytest.mark.parametrize(
    ("raised", "code", "stderr"),
    [
        (KeyboardInterrupt(), 130, ""),  # as typer ends a command on Ctrl-C: no traceback
        (EOFError(), 1, "\nerror: aborted\n"),
        (ClickException("the  input\nis bad"), 1, "error: the input is bad\n"),
    ],
)
def test_the_fast_path_ends_as_the_contract_group_does(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], raised: BaseException, code: int, stderr: str
) -> None:
    def verify(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(cli_trust, "verify", verify)
    command = cli_fast.parse_offline_verify(["verify", "--offline", "TOKEN", "--trust-list", "tl.json"])
    assert command is not None and command.as_json is False
    assert cli_fast.run_offline_verify(command) == code
    assert capsys.readouterr() == ("", stderr)
