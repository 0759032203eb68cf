"""The region seal PKI on the ledger, on SQLite and PostgreSQL: what `init` certifies, revocation and the CRL, the
region TSA checked by `openssl ts -verify`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid5

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from eventsourcing.utils import get_topic, resolve_topic
from sqlalchemy import text

from licences.values import LICENCE_NAMESPACE
from seals.errors import SealRegistryError
from seals.events import SEAL_EVENTS, SealAuthorityCertified
from seals.registry import AUTHORITY_STREAM, SEALS_NAMESPACE, department_stream
from tests.conftest import FakeClock
from tests.seals.wiring import PUBLIC_BASE
from trustledger.region import Region, init_region
from trustledger.sealing import (
    current_crl,
    ensure_seal_pki,
    seal_ca_pem,
    seal_certificates_pem,
    seal_registry,
    tsa_respond,
)
from trustledger.settings import Settings


@pytest.fixture
def region(db_url: str, tmp_path: Path) -> Iterator[tuple[Region, FakeClock]]:
    settings = Settings(home=tmp_path / "home", database_url=db_url, public_base_url=PUBLIC_BASE)
    clock = FakeClock(datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    r = init_region(settings, None, None, None, clock)
    yield r, clock
    r.close()


def _profile_ok(cert: x509.Certificate, ca: x509.Certificate, name: str, uscc: str) -> None:
    cert.verify_directly_issued_by(ca)
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)  # NSS refuses most EKUs on a signer
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == name
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == uscc
    points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert points[0].full_name is not None and points[0].full_name[0].value == PUBLIC_BASE + "/v1/seals/crl"


def test_the_move_to_seals_changed_no_topic_and_no_stream() -> None:
    """The registry moved from `licences/` to `seals/`: the events keep their released topics (part of the leaf data)
    and resolve from them, and the stream ids stay under the licence namespace they were released under."""
    assert uuid5(LICENCE_NAMESPACE, "seals") == SEALS_NAMESPACE
    assert [get_topic(cls) for cls in SEAL_EVENTS] == [
        "licences.seal_registry:SealAuthorityCertified",
        "licences.seal_registry:SealCertificateIssued",
        "licences.seal_registry:SealCertificateRevoked",
    ]
    assert [resolve_topic(get_topic(cls)) for cls in SEAL_EVENTS] == list(SEAL_EVENTS)


def test_init_certifies_the_ca_the_tsa_and_every_issuer(region: tuple[Region, FakeClock], tmp_path: Path) -> None:
    r, _ = region
    ca = x509.load_pem_x509_certificate(seal_ca_pem(r).encode())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    ca.verify_directly_issued_by(ca)
    issuers = r.registry.issuers()
    for issuer in issuers:
        pems = seal_certificates_pem(r, issuer.uscc)
        assert len(pems) == 1
        _profile_ok(x509.load_pem_x509_certificate(pems[0].encode()), ca, issuer.name, issuer.uscc)
        events = r.recording.load(department_stream(issuer.uscc))
        assert [type(e).__name__ for e in events] == ["SealCertificateIssued"]
    assert [e.role for e in r.recording.load(AUTHORITY_STREAM) if isinstance(e, SealAuthorityCertified)] == [
        "ca",
        "tsa",
    ]
    stored = r.recorder.select_events(AUTHORITY_STREAM)
    assert {s.topic for s in stored} == {"licences.seal_registry:SealAuthorityCertified"}  # the released topic
    size = r.log.size()
    assert ensure_seal_pki(r) == {"authorities": 0, "seal_certificates": 0}  # idempotent
    assert r.log.size() == size
    tsa_cert, _ = seal_registry(r).tsa()
    eku = tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    _openssl_accepts_the_region_tsa(r, tmp_path)


def _openssl_accepts_the_region_tsa(r: Region, work: Path) -> None:
    (work / "data.bin").write_bytes("电子证照 1.2.156.3005.2".encode())
    (work / "ca.pem").write_text(seal_ca_pem(r))
    query = work / "q.tsq"
    subprocess.run(
        ["openssl", "ts", "-query", "-data", str(work / "data.bin"), "-sha256", "-cert", "-out", str(query)],
        check=True,
        capture_output=True,
    )
    reply = tsa_respond(r, query.read_bytes())
    assert tsp.TimeStampResp.load(reply)["status"]["status"].native == "granted"
    (work / "r.tsr").write_bytes(reply)
    verify = ["openssl", "ts", "-verify", "-queryfile", str(query), "-in", str(work / "r.tsr")]
    result = subprocess.run([*verify, "-CAfile", str(work / "ca.pem")], capture_output=True, text=True)
    assert result.returncode == 0 and "Verification: OK" in result.stdout, result.stderr


def test_revocation_is_an_event_and_goes_into_the_crl(region: tuple[Region, FakeClock]) -> None:
    r, clock = region
    registry = seal_registry(r)
    issuer = r.registry.issuers()[1]
    row = registry.current_certificate(issuer.uscc, clock())
    assert row is not None
    before = x509.load_der_x509_crl(current_crl(r))
    assert len(before) == 0
    clock.advance(hours=2)
    since = row.not_before + timedelta(minutes=30, microseconds=7)
    for bad, message in (
        ({"revoked_at": clock() + timedelta(seconds=1)}, "in the future"),
        ({"revoked_at": row.not_before - timedelta(seconds=1)}, "notBefore"),
        ({"reason": "because"}, "revocation reason"),
    ):
        with pytest.raises(SealRegistryError, match=message):
            registry.revoke(row.serial, **bad)
    with pytest.raises(SealRegistryError, match="no seal certificate"):
        registry.revoke("abc123")
    registry.revoke(row.serial, reason="key_compromise", revoked_at=since)
    with pytest.raises(SealRegistryError, match="already revoked"):
        registry.revoke(row.serial)
    events = r.recording.load(department_stream(issuer.uscc))
    assert [type(e).__name__ for e in events] == ["SealCertificateIssued", "SealCertificateRevoked"]

    crl = x509.load_der_x509_crl(current_crl(r))
    ca = x509.load_pem_x509_certificate(seal_ca_pem(r).encode())
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey) and crl.is_signature_valid(ca_key)
    assert crl.issuer == ca.subject
    entry = crl.get_revoked_certificate_by_serial_number(int(row.serial, 16))
    assert entry is not None and entry.revocation_date_utc == since.replace(microsecond=0)
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise
    number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert number > before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    assert current_crl(r) == current_crl(r)  # same revocations, same hour: the same bytes

    assert seal_certificates_pem(r, issuer.uscc) == []  # an offline verifier no longer finds it
    with pytest.raises(SealRegistryError, match="no valid seal certificate"):
        registry.seal_key(issuer.uscc, clock())
    assert ensure_seal_pki(r)["seal_certificates"] == 1  # a new certificate for the department
    assert registry.seal_key(issuer.uscc, clock()).certificate.serial_number != int(row.serial, 16)


def test_a_revocation_is_read_from_the_log_not_from_its_columns(region: tuple[Region, FakeClock]) -> None:
    """Clearing a revocation in the seal table changes no CRL, no certificate lookup and no choice of seal key: the
    revocation is re-derived from the department's stream of events."""
    r, clock = region
    registry = seal_registry(r)
    issuer = r.registry.issuers()[1]
    row = registry.current_certificate(issuer.uscc, clock())
    assert row is not None
    clock.advance(hours=1)
    registry.revoke(row.serial, reason="key_compromise")
    with r.store.engine.begin() as conn:
        cleared = conn.execute(
            text(
                "UPDATE seal_certificates SET revoked_at = NULL, revocation_reason = NULL,"
                " revocation_recorded_at = NULL, revoked_leaf = NULL WHERE serial = :s"
            ),
            {"s": row.serial},
        )
        assert cleared.rowcount == 1
    again = registry.certificate(row.serial)
    assert again is not None and again.revoked_at is not None and again.revocation_reason == "key_compromise"
    crl = x509.load_der_x509_crl(current_crl(r))
    assert crl.get_revoked_certificate_by_serial_number(int(row.serial, 16)) is not None
    assert seal_certificates_pem(r, issuer.uscc) == []
    with pytest.raises(SealRegistryError, match="no valid seal certificate"):
        registry.seal_key(issuer.uscc, clock())
