"""Sealing round trip, poppler `pdfsig` with our CA in an NSS database, and tamper tests with distinct reasons."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from seals import pki
from seals.errors import SealingError, UnusablePdfError
from seals.image import render_seal_png
from seals.sign import SealKey, async_seal_pdf, seal_pdf
from seals.tsa import TimeStampAuthority, TsaHttpServer
from seals.validate import validate_sealed_pdf
from tests.seals.helpers import (
    NOT_AFTER,
    NOT_BEFORE,
    QR_URL,
    USCC,
    Pki,
    append_content_update,
    det_key,
    make_pki,
    nss_db,
    pdfsig,
    sample_document,
)


def _pdfsig(region: Pki, pdf: bytes, work_dir: Path, name: str) -> str:
    nss = nss_db(work_dir, pki.certificate_pem(region.ca.certificate))
    path = work_dir / name
    path.write_bytes(pdf)
    return pdfsig(nss, path)


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
    tampered = append_content_update(sealed)
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


def test_in_process_tsa_and_what_validation_reports(region: Pki, licence_pdf: bytes) -> None:
    authority = TimeStampAuthority(region.tsa_cert, region.tsa_key, chain=(region.ca.certificate,))
    sealed = seal_pdf(licence_pdf, region.seal_key, authority=authority).data
    status = validate_sealed_pdf(sealed, [region.ca.certificate])
    assert status.bottom_line, status.reasons
    assert status.reason_codes == ()
    assert status.signer_serial == 100
    assert status.signer_sha256 == hashlib.sha256(pki.certificate_der(region.seal_key.certificate)).hexdigest()
    assert status.subject == sample_document().identifier
    assert status.keywords == QR_URL
    with pytest.raises(SealingError, match="exactly one"):
        seal_pdf(licence_pdf, region.seal_key)
    with pytest.raises(SealingError, match="exactly one"):
        seal_pdf(licence_pdf, region.seal_key, authority=authority, tsa_url="http://127.0.0.1:9/tsa")


def test_b_lta_byte_changed_after_the_seal(
    region: Pki, tsa: TsaHttpServer, licence_pdf: bytes, empty_crl: x509.CertificateRevocationList
) -> None:
    lta = seal_pdf(licence_pdf, region.seal_key, tsa_url=tsa.url, crl=empty_crl).data
    start, length = (int(x) for x in re.findall(rb"/ByteRange \[\s*0 \d+ (\d+) (\d+)", lta)[0])
    at = lta.index(b"endobj", start + length) - 2  # inside the DSS revision, which only the document time-stamp covers
    tampered = lta[:at] + bytes([lta[at] ^ 0x01]) + lta[at + 1 :]
    status = validate_sealed_pdf(tampered, [region.ca.certificate], crl=empty_crl)
    assert status.intact
    assert not status.bottom_line
    assert "document_timestamp_invalid" in status.reason_codes
    assert status.reasons_by_code()["document_timestamp_invalid"].startswith("the document time-stamp")


def test_longest_names_fit_the_certificates_and_the_reserved_signature_space(licence_pdf: bytes) -> None:
    region_name, name = (
        "新疆维吾尔自治区伊犁哈萨克自治州",
        "新疆维吾尔自治区伊犁哈萨克自治州市场监督管理局分",
    )  # 16 and 24 characters
    ca = pki.create_region_ca(det_key(61), region_name=region_name, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    cert = pki.issue_seal_certificate(
        ca,
        det_key(62).public_key(),
        department_name=name,
        uscc=USCC,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        serial_number=(1 << 120) | 5,
        crl_url="https://ledger.xj.gov.example/v1/seals/crl",
    )
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == name  # in full
    common = str(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
    assert len(common.encode()) <= 64 and name.startswith(common)  # shortened to ub-common-name
    tsa_cert = pki.issue_tsa_certificate(
        ca, det_key(63).public_key(), name=region_name, not_before=NOT_BEFORE, not_after=NOT_AFTER, serial_number=7
    )
    key = SealKey(cert, det_key(62), (ca.certificate,), render_seal_png(name))
    authority = TimeStampAuthority(tsa_cert, det_key(63), chain=(ca.certificate,))
    sealed = seal_pdf(licence_pdf, key, authority=authority).data  # the CMS fits the fixed /Contents space
    assert validate_sealed_pdf(sealed, [ca.certificate]).bottom_line
