"""Deterministic test keys, claims and trust lists for the signatures tests (no randomness, no clock)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from signatures.cose import LicenceClaims
from signatures.keyring import KeyRecord
from signatures.note import NoteVerifier
from signatures.trustlist import TrustedIssuer, TrustList, build_trust_list

ISSUER_A = "11430000006122244L"  # an Ed25519-keyed department
ISSUER_B = "91350100M000100Y43"  # a P-256-keyed department
TYPE_A = "11100000000013338W011"
TYPE_B = "11100000000013338W012"
ORIGIN = "ledger.ha.gov.example/log"
BASE_URL = "https://ledger.ha.gov.example"
IDENTIFIER = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U"
KEYS_FROM = datetime(2024, 1, 1, tzinfo=UTC)
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # "now" in most tests
DAY = timedelta(days=1)


def ed25519(label: str) -> Ed25519PrivateKey:
    """A fixed Ed25519 key derived from a label."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def p256(label: str) -> ec.EllipticCurvePrivateKey:
    """A fixed P-256 key derived from a label."""
    scalar = int.from_bytes(hashlib.sha256(label.encode()).digest(), "big") % (2**255)
    return ec.derive_private_key(scalar, ec.SECP256R1())


def ts(when: datetime) -> int:
    """Unix seconds."""
    return int(when.timestamp())


def claims(**changes: Any) -> LicenceClaims:
    """A typical licence token's claims, issued at T0 - 30 days, valid five years."""
    base = LicenceClaims(
        issuer=ISSUER_A,
        subject=IDENTIFIER,
        issued_at=ts(T0 - 30 * DAY),
        not_before=ts(T0 - 30 * DAY),
        expires_at=ts(T0 + 5 * 365 * DAY),
        licence_type=TYPE_A,
        version=1,
        holder_digest=hashlib.sha256(b"holder salt|91350100M000100Y43").digest()[:16],
        leaf_index=123_456,
        log_origin=ORIGIN,
    )
    return replace(base, **changes)


def self_signed_pem(key: ec.EllipticCurvePrivateKey, name: str) -> str:
    """A deterministic-looking self-signed certificate PEM (the ECDSA signature itself is randomised)."""
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(KEYS_FROM)
        .not_valid_after(KEYS_FROM + 3650 * DAY)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.PEM).decode()


def log_verifier_key() -> str:
    """The Go-note verifier key string of the test log key."""
    raw = ed25519("log").public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return NoteVerifier(ORIGIN, raw).to_string()


def issuer_a(*extra_keys: KeyRecord, **key_changes: Any) -> TrustedIssuer:
    """Issuer A with its Ed25519 key (lifecycle changes applied) plus any extra keys."""
    record = replace(KeyRecord.from_public_key(ed25519("issuer-a-1").public_key(), ISSUER_A, KEYS_FROM), **key_changes)
    return TrustedIssuer(ISSUER_A, "河南省市场监督管理局", (TYPE_A,), (record, *extra_keys))


def issuer_b(seal_pem: str) -> TrustedIssuer:
    """Issuer B with a P-256 token key and a seal certificate."""
    record = KeyRecord.from_public_key(p256("issuer-b-1").public_key(), ISSUER_B, KEYS_FROM)
    return TrustedIssuer(ISSUER_B, "郑州市卫生健康委员会", (TYPE_B,), (record,), (seal_pem,))


def trust_list(*issuers: TrustedIssuer, previous: TrustList | None = None, **changes: Any) -> TrustList:
    """A trust list valid from T0 - 1 day to T0 + 7 days, chained to `previous`."""
    fields: dict[str, Any] = {
        "region_code": "HA",
        "region_name": "河南省",
        "log_origin": ORIGIN,
        "log_verifier_key": log_verifier_key(),
        "issuers": issuers,
        "issued_at": T0 - DAY,
        "next_update": T0 + 7 * DAY,
        "previous": previous,
    }
    return build_trust_list(**(fields | changes))
