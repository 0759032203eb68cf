"""`trustledger anchor` when a witness refuses our checkpoint (C2SP tlog-witness): inconsistent (422, or a 409 for our
own size) is an alarm — exit 1, `ALARM` on stderr, an ERROR in the log; any other refusal or an unreachable witness
is a warning and exit 0 (the next round asks again)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

from anchors.cosignature import CosignatureSigner
from clock import StartedClock
from tests.anchors.helpers import ed_key
from trustledger.cli import app

PEER_ORIGIN = "ledger.js.gov.example/log"
WITNESS_KEY = CosignatureSigner("ledger.js.gov.example/witness", ed_key("witness:js")).verifier.to_string()
Answer = Callable[[int], tuple[int, str, bytes]]  # checkpoint size → (status, content type, body)


def _inconsistent(size: int) -> tuple[int, str, bytes]:
    problem = {"type": "https://trustledger.example/problems/witness-inconsistent", "status": 422}
    return 422, "application/problem+json", json.dumps(problem).encode()


def _other_root_for_our_size(size: int) -> tuple[int, str, bytes]:
    return 409, "text/x.tlog.size", f"{size}\n".encode()


def _unknown_log(size: int) -> tuple[int, str, bytes]:
    return 404, "application/problem+json", b'{"type": "witness-unknown-log", "status": 404}'


@contextmanager
def _witness(answer: Answer) -> Iterator[str]:
    """A witness on a loopback port answering every add-checkpoint with `answer` (and 404 to anything else)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
            note = body.split("\n\n", 1)[1]
            status, content_type, out = answer(int(note.split("\n")[1]))
            self._send(status, content_type, out)

        def do_GET(self) -> None:
            self._send(404, "text/plain", b"not found")

        def _send(self, status: int, content_type: str, out: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    runner = CliRunner()
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.stderr
    return runner


def _add_witness(cli: CliRunner, url: str) -> None:
    spki = ed_key("root:js").public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    args = ["peers", "add", url, "--origin", PEER_ORIGIN, "--root-key", base64.b64encode(spki).decode()]
    added = cli.invoke(app, [*args, "--witness-key", WITNESS_KEY])
    assert added.exit_code == 0, added.stderr


@pytest.mark.parametrize("answer", [_inconsistent, _other_root_for_our_size])
def test_a_witness_refusing_our_checkpoint_as_inconsistent_raises_the_alarm(
    cli: CliRunner, answer: Answer, caplog: pytest.LogCaptureFixture
) -> None:
    with _witness(answer) as url:
        _add_witness(cli, url)
        with caplog.at_level(logging.ERROR, logger="trustledger.anchoring"):
            result = cli.invoke(app, ["--json", "anchor"])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("ALARM"), result.stderr
    assert "inconsistent" in result.stderr and url in result.stderr
    doc = json.loads(result.stdout)  # the anchor itself was made and is reported
    assert doc["cosignatures"] == [] and len(doc["witness_inconsistent"]) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "trustledger.anchoring"]
    assert errors and "ALARM" in errors[0].getMessage()


def test_another_refusal_or_an_unreachable_witness_is_a_warning(cli: CliRunner) -> None:
    with _witness(_unknown_log) as url:
        _add_witness(cli, url)
        result = cli.invoke(app, ["--json", "anchor"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert result.stderr.startswith("warning: witness") and "ALARM" not in result.stderr
    doc = json.loads(result.stdout)
    assert doc["witness_inconsistent"] == [] and len(doc["witness_errors"]) == 1
    unreachable = cli.invoke(app, ["--json", "anchor"])  # the witness is gone now
    assert unreachable.exit_code == 0 and "ALARM" not in unreachable.stderr


def test_the_exit_codes_are_in_the_help() -> None:
    shown = CliRunner().invoke(app, ["anchor", "--help"])
    assert shown.exit_code == 0
    assert "Exit codes" in shown.stdout and "inconsistent" in shown.stdout
