"""TRUSTLEDGER_HOME may hold any character a directory name can: the default SQLite URL still names the file inside it
(a `?` would start the URL's query, a `#` its fragment, and `%20` would be decoded to a space)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from clock import StartedClock
from trustledger.cli import app
from trustledger.settings import Settings, sqlite_url

ODD_NAMES = ["a?b=c", "a#b", "50%20off", "two words", "all ?#%20 of;them&x=1", "港口:memory:"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_the_default_url_names_the_file_under_home(tmp_path: Path, name: str) -> None:
    home = tmp_path / name / "home"
    url = make_url(Settings(home=home).resolved_database_url())
    assert (url.drivername, url.database, dict(url.query)) == ("sqlite", str(home.resolve() / "trustledger.db"), {})


def test_sqlite_url_round_trips_through_sqlalchemy(tmp_path: Path) -> None:
    path = tmp_path / "x?y#z%41 w" / "f.db"
    assert make_url(sqlite_url(path)).database == str(path)


def test_init_creates_the_database_inside_an_odd_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock
) -> None:
    home = tmp_path / "odd ?#%20 dir" / "home"
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(home))
    monkeypatch.delenv("TRUSTLEDGER_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--json", "init"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["log_size"] > 0
    db = home / "trustledger.db"
    assert db.is_file()
    with sqlite3.connect(db) as conn:  # the ledger is in that file, not in one at a truncated or decoded path
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] > 0
    strays = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in {".db", ".sqlite"} and p != db]
    assert strays == []
