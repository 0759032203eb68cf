"""`trustledger licence pdf`, `seals …` and `verify_pdf` end to end through the CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from typer.testing import CliRunner

from clock import StartedClock
from tests.seals.wiring import FIELDS, HOLDER_NAME, holder_uscc, write_trust_list
from trustledger.cli import app
from trustledger.cli_seals import pdf_report_text, verify_pdf
from trustledger.region import open_region
from trustledger.settings import Settings
from trustledger.verification import UsageError


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    monkeypatch.setenv("TRUSTLEDGER_PUBLIC_BASE_URL", "https://ledger.ha.gov.example")
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout


def _issue(cli: CliRunner) -> dict[str, str]:
    fields = [f"--field={k}={v}" for k, v in FIELDS.items()]
    args = ["--type", "business-licence", "--holder", holder_uscc(), "--holder-name", HOLDER_NAME, "--issuer", "zz-amr"]
    out: dict[str, str] = json.loads(run(cli, "--json", "licence", "issue", *args, *fields))
    return out


def test_licence_pdf_then_verify_then_revoke(cli: CliRunner, tmp_path: Path, process_clock: StartedClock) -> None:
    run(cli, "init")
    licence = _issue(cli)
    pdf = tmp_path / "licence.pdf"
    out = json.loads(run(cli, "--json", "licence", "pdf", licence["identifier"], "-o", str(pdf)))
    data = pdf.read_bytes()
    assert out["sha256"] == hashlib.sha256(data).hexdigest() and out["bytes"] == len(data) and out["level"] == "b-lta"
    history = json.loads(run(cli, "--json", "licence", "history", licence["id"]))["events"]
    assert [(e["kind"], e["leaf_index"]) for e in history if e["kind"] == "sealed"] == [("sealed", out["leaf_index"])]
    again = tmp_path / "again.pdf"
    assert run(cli, "licence", "pdf", licence["id"], "-o", str(again), "--level", "b-t").startswith(str(again))

    valid, report = verify_pdf(pdf, offline=False, trust_list=None)
    assert valid, report["reasons"]
    assert all(check["ok"] for check in report["checks"].values())
    assert pdf_report_text(report).startswith("VALID")

    settings = Settings()
    region = open_region(settings)
    try:
        trust_list = write_trust_list(region, tmp_path / "tl.json", process_clock())
    finally:
        region.close()
    valid, report = verify_pdf(pdf, offline=True, trust_list=trust_list)
    assert valid, report["reasons"]
    assert report["checks"]["on_ledger"] == {"ok": None, "code": None, "detail": "ledger not consulted offline"}
    with pytest.raises(UsageError, match="--offline needs --trust-list"):
        verify_pdf(pdf, offline=True, trust_list=None)
    # The same through `trustledger verify` (cli_trust hands PDFs to verify_pdf) and the published trust list.
    assert json.loads(run(cli, "--json", "verify", str(pdf)))["checks"]["on_ledger"]["ok"] is True
    exported = tmp_path / "exported.json"
    run(cli, "trust-list", "export", "-o", str(exported))
    assert "VALID" in run(cli, "verify", str(pdf), "--offline", "--trust-list", str(exported))

    certificates = json.loads(run(cli, "--json", "seals", "list", "--issuer", licence["issuer"]))["certificates"]
    assert len(certificates) == 1 and certificates[0]["revoked_at"] is None
    serial = certificates[0]["serial"]
    since = datetime.fromisoformat(certificates[0]["not_before"].replace("Z", "+00:00")) + timedelta(seconds=1)
    revoked = json.loads(
        run(cli, "--json", "seals", "revoke", serial, "--reason", "key_compromise", "--since", since.isoformat())
    )
    assert revoked["serial"] == serial and revoked["reason"] == "key_compromise"
    run(cli, "seals", "revoke", serial, code=1)  # already revoked

    valid, report = verify_pdf(pdf, offline=False, trust_list=None)
    assert not valid
    assert [(r["check"], r["code"]) for r in report["reasons"]] == [("certificate", "certificate_revoked")]
    valid, report = verify_pdf(pdf, offline=True, trust_list=trust_list)
    assert valid  # the trust list file was issued before the revocation: offline cannot know (the online check can)
    run(cli, "verify", str(pdf), code=1)
    fresh = tmp_path / "fresh.json"  # a trust list published after the revocation no longer lists the certificate
    run(cli, "trust-list", "export", "-o", str(fresh))
    offline = json.loads(run(cli, "--json", "verify", str(pdf), "--offline", "--trust-list", str(fresh), code=1))
    assert [r["code"] for r in offline["reasons"]] == ["certificate_not_listed"]

    crl_file = tmp_path / "seals.crl"
    run(cli, "seals", "crl", "-o", str(crl_file))
    crl = x509.load_der_x509_crl(crl_file.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
    assert "BEGIN X509 CRL" in run(cli, "seals", "crl")
    ca = x509.load_pem_x509_certificate(run(cli, "seals", "ca").encode())
    assert crl.issuer == ca.subject

    run(cli, "licence", "pdf", licence["id"], "-o", str(tmp_path / "x.pdf"), code=1)  # no valid seal certificate
    reissued = json.loads(run(cli, "--json", "seals", "issue", licence["issuer"]))
    assert reissued["serial"] != serial
    run(cli, "licence", "pdf", licence["id"], "-o", str(tmp_path / "x.pdf"))


def test_refusals_and_usage_errors(cli: CliRunner, tmp_path: Path) -> None:
    run(cli, "init")
    licence = _issue(cli)
    run(cli, "licence", "pdf", licence["id"], "-o", str(tmp_path / "a.pdf"), "--level", "b-x", code=2)
    run(cli, "licence", "pdf", "00000000-0000-0000-0000-000000000000", "-o", str(tmp_path / "a.pdf"), code=1)
    run(cli, "licence", "revoke", licence["id"], "--reason", "注销")
    out = run(cli, "licence", "pdf", licence["id"], "-o", str(tmp_path / "a.pdf"), code=1)
    assert out == "" and not (tmp_path / "a.pdf").exists()
    run(cli, "seals", "revoke", "ffff", code=1)
    run(cli, "seals", "revoke", "ffff", "--since", "yesterday", code=2)
    not_pdf = tmp_path / "not.pdf"
    not_pdf.write_bytes(b"GIF89a")
    valid, report = verify_pdf(not_pdf, offline=False, trust_list=None)
    assert not valid and report["reasons"][0]["code"] == "unusable_pdf"
    with pytest.raises(UsageError, match="cannot read"):
        verify_pdf(tmp_path / "missing.pdf", offline=False, trust_list=None)
