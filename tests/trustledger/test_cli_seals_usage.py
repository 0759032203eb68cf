"""`trustledger seals issue` with a department the catalogue does not know: a usage error (exit 2) naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from trustledger.cli import app


def test_seals_issue_to_an_unknown_department_is_a_usage_error_naming_the_argument(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRUSTLEDGER_DATABASE_URL", raising=False)
    cli = CliRunner()
    assert cli.invoke(app, ["init"]).exit_code == 0
    result = cli.invoke(app, ["seals", "issue", "UNKNOWN_DEPT"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("error: USCC: ") and "UNKNOWN_DEPT" in result.stderr
    assert "Traceback" not in result.stderr
