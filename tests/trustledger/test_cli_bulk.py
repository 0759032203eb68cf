"""`trustledger import`, `demo seed` and `init --demo` (DESIGN §13), on SQLite and PostgreSQL.

The crash test runs the real command in a subprocess that SIGKILLs itself inside the transaction of its fourth batch
(the hidden `--crash-after-batches`), then resumes: every row lands or is rejected exactly once and the audit passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clock import StartedClock
from demo.synthetic import SyntheticHolders
from tests.licences.bulk_rows import food_row, read_rejects, with_bad_last_char, write_csv
from trustledger.cli import app
from trustledger.region import open_region
from trustledger.settings import Settings

TRUSTLEDGER = Path(sys.executable).with_name("trustledger")


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result.stdout


def licence_count() -> int:
    region = open_region(Settings())
    try:
        return region.licence_store.count()
    finally:
        region.close()


def test_import_killed_mid_batch_resumes_with_every_row_exactly_once(
    cli: CliRunner, tmp_path: Path, process_clock: StartedClock
) -> None:
    run(cli, "init")
    holders = SyntheticHolders(21)
    rows = [food_row(n, holders) for n in range(1, 51)]
    rows[3]["holder_id"] = with_bad_last_char(rows[3]["holder_id"])  # line 5, first batch
    rows[34]["valid_from"] = "2021-13-01"  # line 36, in the batch that is killed
    source = write_csv(tmp_path / "licences.csv", rows)

    child = subprocess.run(
        [str(TRUSTLEDGER), "import", str(source), "--batch", "10", "--crash-after-batches", "3"],
        env=dict(os.environ, TRUSTLEDGER_CLOCK_AT=process_clock().isoformat()),  # the child goes on from our now
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    assert licence_count() == 29  # three batches committed (one reject among them); the fourth rolled back
    assert set(read_rejects(tmp_path / "licences.csv.rejects.csv")) == {5, 36}  # 36 written, not yet committed

    report = json.loads(run(cli, "--json", "import", str(source), "--batch", "10", code=1))
    assert (report["imported"], report["rejected"], report["skipped"]) == (19, 1, 30)
    assert report["resumed_from_line"] == 31 and report["rate"] > 0 and report["seconds"] >= 0
    assert licence_count() == 48
    rejects = read_rejects(tmp_path / "licences.csv.rejects.csv")
    assert (
        rejects == {5: rejects[5], 36: rejects[36]} and rejects[5][0] == "holder_id" and rejects[36][0] == "valid_from"
    )
    region = open_region(Settings())
    try:
        svc = region.licences
        landed = {svc.resolve(r["identifier"]) for i, r in enumerate(rows) if i not in (3, 34)}
        assert len(landed) == 48 and all(svc.store.licence(i) is not None for i in landed)
    finally:
        region.close()
    assert json.loads(run(cli, "--json", "audit"))["ok"] is True

    again = json.loads(run(cli, "--json", "import", str(source), "--no-resume", code=1))
    assert (again["imported"], again["rejected"]) == (0, 50)  # duplicates are refused, nothing lands twice
    assert licence_count() == 48
    text = run(cli, "import", str(source))  # finished: nothing to do, exit 0
    assert "already imported" in text

    (tmp_path / "rows.xlsx").write_bytes(b"PK")
    run(cli, "import", str(tmp_path / "rows.xlsx"), code=2)
    run(cli, "import", str(tmp_path / "missing.csv"), code=2)
    run(cli, "import", str(source), "--batch", "0", code=2)
    (tmp_path / "cols.csv").write_text("identifier,colour\n", encoding="utf-8")
    result = cli.invoke(app, ["import", str(tmp_path / "cols.csv")])
    assert result.exit_code == 1 and "colour" in result.stderr


def test_init_demo_is_idempotent_and_demo_seed_adds_n(cli: CliRunner) -> None:
    first = json.loads(run(cli, "--json", "init", "--demo"))
    count = licence_count()
    assert count == 6
    second = json.loads(run(cli, "--json", "init", "--demo"))
    assert second["log_size"] == first["log_size"] and licence_count() == count
    result = cli.invoke(app, ["demo", "seed", "--licences", "30", "--batch", "12", "--seed", "5"])
    assert result.exit_code == 0 and "seeded 30 licences" in result.stdout and "seed" in result.stderr
    seeded = json.loads(run(cli, "--json", "demo", "seed", "--licences", "7"))
    assert seeded["licences"] == 7 and seeded["rate"] > 0
    assert licence_count() == count + 37
    assert json.loads(run(cli, "--json", "audit"))["ok"] is True
