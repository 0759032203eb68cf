"""Sealing round trip, poppler `pdfsig` with our CA in an NSS database, and tamper tests with distinct reasons."""

from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from seals import pki
from seals.errors import UnusablePdfError
from seals.sign import async_seal_pdf, seal_pdf
from seals.tsa import TsaHttpServer
from seals.validate import validate_sealed_pdf
from tests.seals.helpers import Pki, make_pki


def _pdfsig(region: Pki, pdf: bytes, work_dir: Path, name: str) -> str:
    nss = work_dir / "nss"
    if not nss.exists():
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True)
        (work_dir / "ca-nss.pem").write_bytes(pki.certificate_pem(region.ca.certificate))
        subprocess.run(
            [
                "certutil",
                "-d",
                f"sql:{nss}",
                "-A",
                "-t",
                "CT,C,C",
                "-n",
                "region-ca",
                "-i",
                str(work_dir / "ca-nss.pem"),
            ],
            check=True,
        )
    path = work_dir / name
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, timeout=60
    ).stdout


def _append_content_update(pdf: bytes) -> bytes:
    """A hand-written incremental update (ISO 32000-1 §7.5.6) that replaces the page's content stream."""
    contents = int(re.search(rb"/Contents (\d+) 0 R", pdf).group(1))  # type: ignore[union-attr]
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    trailer = re.findall(rb"trailer\s*<<(.*?)>>\s*startxref", pdf, re.S)[-1]
    size = int(re.search(rb"/Size (\d+)", trailer).group(1))  # type: ignore[union-attr]
    root = re.search(rb"/Root (\d+ 0 R)", trailer).group(1)  # type: ignore[union-attr]
    body = b"0 0 1 rg 100 400 300 200 re f"
    obj = b"%d 0 obj\n<< /Length %d >>\nstream\n%s\nendstream\nendobj\n" % (contents, len(body), body)
    offset = len(pdf) + 1
    xref_at = offset + len(obj)
    xref = b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (contents, offset)
    tail = b"trailer\n<< /Size %d /Root %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, xref_at)
    return pdf + b"\n" + obj + xref + tail


def test_pdfsig_reports_valid_and_trusted(region: Pki, sealed: bytes, work_dir: Path) -> None:
    out = _pdfsig(region, sealed, work_dir, "sealed.pdf")
    assert "Signature is Valid." in out
    assert "Certificate is Trusted." in out
    assert "Total document signed" in out
    assert "ETSI.CAdES.detached" in out


def test_round_trip_is_valid(region: Pki, sealed: bytes, empty_crl: x509.CertificateRevocationList) -> None:
    status = validate_sealed_pdf(
        sealed, [region.ca.certificate], crl=empty_crl, expected_sha256=hashlib.sha256(sealed).hexdigest()
    )
    assert status.bottom_line, status.reasons
    assert status.intact
    assert status.trusted
    assert status.timestamp_ok
    assert status.whole_document
    assert status.hash_matches is True
    assert status.signing_time is not None
    assert len(sealed) < 150_000


def test_async_entry_point_and_hash(region: Pki, tsa: TsaHttpServer, licence_pdf: bytes) -> None:
    result = asyncio.run(async_seal_pdf(licence_pdf, region.seal_key, tsa_url=tsa.url))
    assert result.sha256 == hashlib.sha256(result.data).hexdigest()
    assert validate_sealed_pdf(result.data, [region.ca.certificate]).bottom_line


def test_b_lta_with_crl(
    region: Pki, tsa: TsaHttpServer, licence_pdf: bytes, empty_crl: x509.CertificateRevocationList, work_dir: Path
) -> None:
    result = seal_pdf(licence_pdf, region.seal_key, tsa_url=tsa.url, crl=empty_crl)
    assert b"/DSS" in result.data
    assert b"/DocTimeStamp" in result.data
    status = validate_sealed_pdf(result.data, [region.ca.certificate], crl=empty_crl)
    assert status.bottom_line, status.reasons
    assert "Signature is Valid." in _pdfsig(region, result.data, work_dir, "lta.pdf")


def test_flipped_byte_breaks_integrity(region: Pki, sealed: bytes) -> None:
    at = sealed.index(b"stream\n") + 200
    tampered = sealed[:at] + bytes([sealed[at] ^ 0x01]) + sealed[at + 1 :]
    status = validate_sealed_pdf(tampered, [region.ca.certificate])
    assert not status.bottom_line
    assert not status.intact
    assert status.reasons == ("the signed bytes do not match the seal: the PDF was altered",)


def test_content_changed_by_incremental_update(region: Pki, sealed: bytes, work_dir: Path) -> None:
    tampered = _append_content_update(sealed)
    status = validate_sealed_pdf(tampered, [region.ca.certificate])
    assert status.intact
    assert not status.whole_document
    assert not status.bottom_line
    assert status.reasons == ("the document was changed by an incremental update after sealing",)
    assert "Not total document signed" in _pdfsig(region, tampered, work_dir, "updated.pdf")


def test_seal_from_another_ca_is_not_trusted(region: Pki, tsa: TsaHttpServer, licence_pdf: bytes) -> None:
    rogue = make_pki("河南省", 50)  # same names, different keys
    forged = seal_pdf(licence_pdf, rogue.seal_key, tsa_url=tsa.url).data
    status = validate_sealed_pdf(forged, [region.ca.certificate])
    assert status.intact
    assert not status.trusted
    assert not status.bottom_line
    assert len(status.reasons) == 1
    assert "does not chain to a trusted region CA" in status.reasons[0]


def test_revoked_seal_certificate(region: Pki, sealed: bytes, revoking_crl: x509.CertificateRevocationList) -> None:
    status = validate_sealed_pdf(sealed, [region.ca.certificate], crl=revoking_crl)
    assert status.intact
    assert not status.certificate_ok
    assert not status.bottom_line
    assert status.reasons == ("the seal certificate was revoked on 2024-01-02 00:00:00 UTC, before the seal was made",)


def test_ledger_hash_mismatch(region: Pki, sealed: bytes) -> None:
    status = validate_sealed_pdf(sealed, [region.ca.certificate], expected_sha256="00" * 32)
    assert status.hash_matches is False
    assert not status.bottom_line
    assert status.reasons == ("the PDF's SHA-256 is not the one recorded on the ledger",)


def test_unsealed_pdf_has_no_seal(region: Pki, licence_pdf: bytes) -> None:
    status = validate_sealed_pdf(licence_pdf, [region.ca.certificate])
    assert not status.bottom_line
    assert status.reasons == ("no seal signature in the PDF",)


def test_unusable_input_raises(region: Pki) -> None:
    with pytest.raises(UnusablePdfError, match="not a PDF"):
        validate_sealed_pdf(b"GIF89a", [region.ca.certificate])
    with pytest.raises(UnusablePdfError, match="larger"):
        validate_sealed_pdf(b"%PDF-" + b"0" * 11_000_000, [region.ca.certificate])
    with pytest.raises(UnusablePdfError, match="trust roots"):
        validate_sealed_pdf(b"%PDF-1.4", [])
