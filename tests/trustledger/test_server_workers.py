"""`serve`'s worker processes: --workers, else TRUSTLEDGER_WORKERS, else one per CPU on PostgreSQL and one on SQLite;
a bad setting is refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import ValidationError

from trustledger import server
from trustledger.server import LOOP, worker_count
from trustledger.settings import Settings

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def test_workers_come_from_the_option_the_setting_or_the_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTLEDGER_WORKERS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    pg = {"database_url": PG}
    assert worker_count(3, Settings(**pg)) == 3
    assert worker_count(None, Settings(**pg)) == 4  # PostgreSQL: one per CPU
    assert worker_count(None, Settings(database_url="sqlite:///x.db")) == 1  # SQLite: one writer process
    assert worker_count(3, Settings(database_url="sqlite:///x.db")) == 3  # unless asked for more
    assert worker_count(None, Settings(database_url="")) == 1  # the default database is the SQLite file
    monkeypatch.setenv("TRUSTLEDGER_WORKERS", "5")
    assert worker_count(None, Settings(**pg)) == 5 and worker_count(2, Settings(**pg)) == 2
    assert worker_count(None, Settings(database_url="sqlite:///x.db")) == 5
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # an unknown CPU count: one worker
    monkeypatch.setenv("TRUSTLEDGER_WORKERS", "0")
    assert worker_count(None, Settings(**pg)) == 1


@pytest.mark.parametrize("value", ["-1", "257", "two", "1.5"])
def test_a_bad_worker_setting_is_refused(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTLEDGER_WORKERS", value)
    with pytest.raises(ValidationError, match="workers"):
        Settings()


def test_serve_runs_uvicorn_on_uvloop_and_httptools_without_its_access_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRUSTLEDGER_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRUSTLEDGER_WORKERS", "3")
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kw: started.append(kw))
    server.run("127.0.0.1", 8124)
    assert started and started[0]["loop"] == LOOP == "uvloop" and started[0]["http"] == "httptools"
    assert started[0]["workers"] == 3 and started[0]["access_log"] is False
