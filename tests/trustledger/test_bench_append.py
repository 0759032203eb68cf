"""`trustledger bench append` writes its synthetic events to a scratch log unless told `--into-region`, and refuses
that on a region that holds a licence (ADR 0011): no fake event lands in a live region's append-only log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from trustledger.cli import app
from trustledger.region import open_region
from trustledger.settings import Settings


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> tuple[str, str]:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout, result.stderr


def _log_size() -> int:
    region = open_region(Settings())
    try:
        return region.log.size()
    finally:
        region.close()


def test_by_default_the_events_go_to_a_scratch_log(cli: CliRunner) -> None:
    out, _ = run(cli, "--json", "bench", "append", "--events", "30", "--batch", "7")  # no region needed
    doc = json.loads(out)
    assert (doc["events"], doc["batch"]) == (30, 7) and doc["events_per_second"] > 0
    run(cli, "init", "--demo")
    size = _log_size()
    run(cli, "bench", "append", "--events", "50")
    assert _log_size() == size  # the region's log did not grow


def test_into_region_appends_to_a_region_without_licences(cli: CliRunner) -> None:
    run(cli, "init")
    size = _log_size()
    run(cli, "bench", "append", "--events", "40", "--batch", "10", "--into-region")
    assert _log_size() == size + 40


def test_into_region_is_refused_on_a_region_that_holds_a_licence(cli: CliRunner) -> None:
    run(cli, "init", "--demo")
    size = _log_size()
    _, err = run(cli, "bench", "append", "--events", "5", "--into-region", code=2)
    assert "holds licences" in err and "--into-region" in err
    assert _log_size() == size
    _, err = run(cli, "--json", "bench", "append", "--events", "5", "--into-region", code=2)
    assert "holds licences" in json.loads(err)["error"]


def test_into_region_needs_a_region(cli: CliRunner) -> None:
    _, err = run(cli, "bench", "append", "--events", "5", "--into-region", code=1)
    assert "trustledger init" in err
