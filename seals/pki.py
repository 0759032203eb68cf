"""Region seal PKI: a P-256 root CA, seal certificates per department, a TSA certificate and CRLs.

Profiles follow RFC 5280; the seal certificate profile is the one NSS-based readers (poppler `pdfsig`, Firefox) accept
for PDF signatures: keyUsage digitalSignature + nonRepudiation, no EKU (NSS rejects most EKUs on a signer). Keys are
`cryptography` objects handed in by the caller; storing them is the keystore's job, not ours. Certificates are
deterministic given the keys, times and serials (ECDSA signatures per RFC 6979), which keeps the test PKI reproducible.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seals.errors import PkiError

__all__ = [
    "RegionCA",
    "RevokedSeal",
    "build_crl",
    "certificate_der",
    "certificate_pem",
    "create_region_ca",
    "crl_der",
    "crl_pem",
    "generate_key",
    "issue_seal_certificate",
    "issue_tsa_certificate",
]


@dataclass(frozen=True)
class RegionCA:
    """The region's seal CA: its self-signed root certificate and its private key."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey

    def certificate_pem(self) -> bytes:
        """The root certificate in PEM (RFC 7468 §5), as published in the trust list."""
        return certificate_pem(self.certificate)


@dataclass(frozen=True)
class RevokedSeal:
    """One CRL entry (RFC 5280 §5.3): a seal certificate serial, when it was revoked, and why."""

    serial_number: int
    revoked_at: datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key (DESIGN §6: ECDSA P-256 for PDF seals, which NSS-based readers can check)."""
    return ec.generate_private_key(ec.SECP256R1())


def _require_p256(key: ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PkiError("seal PKI keys must be ECDSA P-256 (secp256r1)")


def _require_window(not_before: datetime, not_after: datetime) -> None:
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise PkiError("certificate validity times must be timezone-aware UTC")
    if not_after <= not_before:
        raise PkiError("certificate notAfter must be later than notBefore")


def _common_name(text: str) -> x509.NameAttribute[str]:
    """A commonName within ub-common-name (RFC 5280 Appendix A: 64), which `cryptography` counts in UTF-8 bytes:
    a long Chinese name is shortened here, the full name stays in organizationName."""
    while len(text.encode("utf-8")) > 64:
        text = text[:-1]
    return x509.NameAttribute(NameOID.COMMON_NAME, text.rstrip())


def _sign(builder: x509.CertificateBuilder, ca_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(ca_key, hashes.SHA256(), ecdsa_deterministic=True)


def create_region_ca(
    key: ec.EllipticCurvePrivateKey,
    *,
    region_name: str,
    not_before: datetime,
    not_after: datetime,
    serial_number: int = 1,
) -> RegionCA:
    """A self-signed root for the region's seals (RFC 5280 §4.2.1.9 basicConstraints CA, keyCertSign + cRLSign)."""
    _require_p256(key)
    _require_window(not_before, not_after)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, region_name),
            _common_name(f"{region_name} 电子印章根证书"),
        ]
    )
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )
    return RegionCA(certificate=_sign(builder, key), private_key=key)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_builder(
    ca: RegionCA,
    public_key: ec.EllipticCurvePublicKey,
    subject: x509.Name,
    *,
    not_before: datetime,
    not_after: datetime,
    serial_number: int,
    crl_url: str | None,
) -> x509.CertificateBuilder:
    _require_p256(public_key)
    _require_window(not_before, not_after)
    if serial_number <= 0 or serial_number.bit_length() > 159:
        raise PkiError("certificate serial numbers are positive and at most 20 octets (RFC 5280 §4.1.2.2)")
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial_number)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if crl_url is not None:
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder


def _leaf_key_usage(*, non_repudiation: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue_seal_certificate(
    ca: RegionCA,
    public_key: ec.EllipticCurvePublicKey,
    *,
    department_name: str,
    uscc: str,
    not_before: datetime,
    not_after: datetime,
    serial_number: int,
    crl_url: str | None = None,
) -> x509.Certificate:
    """A department's seal certificate (DESIGN §7): O and CN name the department, organizationIdentifier and
    serialNumber carry its USCC (GB 32100-2015), keyUsage digitalSignature + nonRepudiation critical, no EKU."""
    if not department_name.strip():
        raise PkiError("a seal certificate needs the department name")
    if len(uscc) != 18 or not uscc.isascii() or not uscc.isalnum():
        raise PkiError(f"not an 18-character USCC: {uscc!r}")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, department_name),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, uscc),
            _common_name(f"{department_name} 电子印章"),
        ]
    )
    builder = _leaf_builder(
        ca,
        public_key,
        subject,
        not_before=not_before,
        not_after=not_after,
        serial_number=serial_number,
        crl_url=crl_url,
    )
    builder = builder.add_extension(_leaf_key_usage(non_repudiation=True), critical=True)
    return _sign(builder, ca.private_key)


def issue_tsa_certificate(
    ca: RegionCA,
    public_key: ec.EllipticCurvePublicKey,
    *,
    name: str,
    not_before: datetime,
    not_after: datetime,
    serial_number: int,
    crl_url: str | None = None,
) -> x509.Certificate:
    """The region TSA's certificate: extendedKeyUsage timeStamping only, marked critical (RFC 3161 §2.3)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
            _common_name(f"{name} 时间戳服务"),
        ]
    )
    builder = _leaf_builder(
        ca,
        public_key,
        subject,
        not_before=not_before,
        not_after=not_after,
        serial_number=serial_number,
        crl_url=crl_url,
    )
    builder = builder.add_extension(_leaf_key_usage(non_repudiation=False), critical=True).add_extension(
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
    )
    return _sign(builder, ca.private_key)


def build_crl(
    ca: RegionCA,
    revoked: Iterable[RevokedSeal],
    *,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
) -> x509.CertificateRevocationList:
    """A v2 CRL of revoked seal certificates (RFC 5280 §5), with cRLNumber and authorityKeyIdentifier."""
    _require_window(this_update, next_update)
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.certificate.subject)
        .last_update(this_update)
        .next_update(next_update)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    for entry in revoked:
        item = x509.RevokedCertificateBuilder().serial_number(entry.serial_number).revocation_date(entry.revoked_at)
        if entry.reason is not x509.ReasonFlags.unspecified:
            item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(ca.private_key, hashes.SHA256(), ecdsa_deterministic=True)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """PEM encoding (RFC 7468 §5) of a certificate."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_der(certificate: x509.Certificate) -> bytes:
    """DER encoding of a certificate (RFC 5280 §4.1)."""
    return certificate.public_bytes(serialization.Encoding.DER)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    """PEM encoding (RFC 7468 §6) of a CRL, as the API may serve it."""
    return crl.public_bytes(serialization.Encoding.PEM)


def crl_der(crl: x509.CertificateRevocationList) -> bytes:
    """DER encoding of a CRL (RFC 5280 §5.1), served as `application/pkix-crl` (RFC 2585 §4.2)."""
    return crl.public_bytes(serialization.Encoding.DER)
