"""The command loads only what it runs: `trustledger --help` and `verify --offline` never import the database, PDF,
migration or HTTP stacks (checked on the modules a fresh interpreter loaded, not by timing; `python -m bench cli`
measures the time), and the root help's static table says what each lazily loaded command says of itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from tests.conftest import FakeClock
from trustledger import cli_common
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


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    report = json.loads(done.stderr.rsplit("@@", 1)[1])
    return report["code"], set(report["modules"]), done.stdout


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_root_help_imports_no_storage_pdf_or_web_stack() -> None:
    code, modules, out = _run("--help")
    assert code == 0 and "verify" in out and "matters" in out
    assert _heavy(modules) == []
    loaded = modules - {"trustledger.cli_common"}
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
