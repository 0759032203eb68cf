"""Seal PKI profiles (RFC 5280) and CRLs."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from seals import pki
from seals.errors import PkiError
from tests.seals.helpers import DEPARTMENT, NOT_AFTER, NOT_BEFORE, USCC, Pki, det_key, make_pki


def test_seal_certificate_profile_is_what_nss_accepts(region: Pki) -> None:
    cert = region.seal_key.certificate
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    with pytest.raises(x509.ExtensionNotFound):
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    subject = cert.subject
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == DEPARTMENT
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)[0].value == USCC
    assert subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "CN"
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == f"{DEPARTMENT} 电子印章"
    cert.verify_directly_issued_by(region.ca.certificate)


def test_tsa_certificate_has_only_critical_timestamping_eku(region: Pki) -> None:
    eku = region.tsa_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]


def test_same_keys_give_the_same_certificates(region: Pki) -> None:
    again = make_pki("河南省", 1)
    assert pki.certificate_der(again.ca.certificate) == pki.certificate_der(region.ca.certificate)
    assert again.seal_key.certificate == region.seal_key.certificate
    assert pki.certificate_pem(region.ca.certificate).startswith(b"-----BEGIN CERTIFICATE-----")


def test_crl_lists_the_revoked_seal(region: Pki, revoking_crl: x509.CertificateRevocationList) -> None:
    serial = region.seal_key.certificate.serial_number
    assert revoking_crl.get_revoked_certificate_by_serial_number(serial) is not None
    assert revoking_crl.is_signature_valid(region.ca.certificate.public_key())  # type: ignore[arg-type]
    assert x509.load_der_x509_crl(pki.crl_der(revoking_crl)) == revoking_crl
    assert pki.crl_pem(revoking_crl).startswith(b"-----BEGIN X509 CRL-----")


def test_refuses_other_curves_and_bad_inputs(region: Pki) -> None:
    with pytest.raises(PkiError, match="P-256"):
        pki.create_region_ca(
            ec.generate_private_key(ec.SECP384R1()), region_name="x", not_before=NOT_BEFORE, not_after=NOT_AFTER
        )
    with pytest.raises(PkiError, match="USCC"):
        pki.issue_seal_certificate(
            region.ca,
            det_key(9).public_key(),
            department_name=DEPARTMENT,
            uscc="123",
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
            serial_number=5,
        )
    with pytest.raises(PkiError, match="notAfter"):
        pki.create_region_ca(det_key(9), region_name="x", not_before=NOT_AFTER, not_after=NOT_BEFORE)
