"""Session-scoped deterministic seal PKI, a loopback TSA and sealed PDFs, built once so the suite stays fast."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509

from seals import pki
from seals.render import render_licence_pdf
from seals.sign import seal_pdf
from seals.tsa import TimeStampAuthority, TsaHttpServer
from tests.seals.helpers import NOT_AFTER, NOT_BEFORE, Pki, make_pki, sample_document


@pytest.fixture(scope="session")
def region() -> Pki:
    return make_pki("河南省", 1)


@pytest.fixture(scope="session")
def tsa(region: Pki) -> Iterator[TsaHttpServer]:
    authority = TimeStampAuthority(region.tsa_cert, region.tsa_key, chain=(region.ca.certificate,))
    with TsaHttpServer(authority) as server:
        yield server


@pytest.fixture(scope="session")
def licence_pdf() -> bytes:
    return render_licence_pdf(sample_document())


@pytest.fixture(scope="session")
def sealed(region: Pki, tsa: TsaHttpServer, licence_pdf: bytes) -> bytes:
    return seal_pdf(licence_pdf, region.seal_key, tsa_url=tsa.url).data


@pytest.fixture(scope="session")
def empty_crl(region: Pki) -> x509.CertificateRevocationList:
    return pki.build_crl(region.ca, [], this_update=NOT_BEFORE, next_update=NOT_AFTER, crl_number=1)


@pytest.fixture(scope="session")
def revoking_crl(region: Pki) -> x509.CertificateRevocationList:
    entry = pki.RevokedSeal(region.seal_key.certificate.serial_number, NOT_BEFORE + timedelta(days=1))
    return pki.build_crl(
        region.ca, [entry], this_update=NOT_BEFORE + timedelta(days=2), next_update=NOT_AFTER, crl_number=2
    )


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seals")
