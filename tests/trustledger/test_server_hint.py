"""`trustledger serve` says what to open before uvicorn starts: demo licences' scan pages and how to make a key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import uvicorn

from trustledger import server


def test_serve_prints_scan_pages_and_the_key_command_on_a_fresh_home_and_again_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TRUSTLEDGER_DATABASE_URL", raising=False)
    started: list[tuple[str, int]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: started.append((kw["host"], kw["port"])))
    server.run("0.0.0.0", 8123, 1)
    fresh = capsys.readouterr().out
    assert started == [("0.0.0.0", 8123)]
    scans = re.findall(r"http://127\.0\.0\.1:8123/v/[A-Za-z0-9_-]+", fresh)
    assert len(scans) == 3 and "演示证照" in fresh and "营业执照" in fresh and "(revoked)" in fresh
    assert "trustledger apikey create --role verifier --principal" in fresh
    assert re.search(r"--role issuer --principal [0-9A-Z]{18}\b", fresh)
    ids = re.findall(r"^  ([0-9a-f-]{36})  ", fresh, re.MULTILINE)
    assert len(ids) == 3
    server.run("127.0.0.1", 8123, 1)  # the home exists now: the hint again, licences read from the read model
    again = capsys.readouterr().out
    assert "演示证照" not in again and len(re.findall(r"http://127\.0\.0\.1:8123/v/", again)) == 2
    assert "trustledger apikey create --role verifier" in again
