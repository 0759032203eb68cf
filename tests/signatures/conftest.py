"""Session-scoped deterministic keys and trust lists for the signatures tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from signatures.cose import Ed25519Signer, P256Signer, sign_token
from signatures.trustlist import TrustList
from tests.signatures import helpers as h


@pytest.fixture(scope="session")
def signer_a() -> Ed25519Signer:
    return Ed25519Signer(h.ed25519("issuer-a-1"))


@pytest.fixture(scope="session")
def signer_b() -> P256Signer:
    return P256Signer(h.p256("issuer-b-1"))


@pytest.fixture(scope="session")
def root_signer() -> Ed25519Signer:
    return Ed25519Signer(h.ed25519("root"))


@pytest.fixture(scope="session")
def seal_ca_pem() -> str:
    return h.self_signed_pem(h.p256("seal-ca"), "河南省电子印章 CA")


@pytest.fixture(scope="session")
def seal_pem() -> str:
    key: ec.EllipticCurvePrivateKey = h.p256("seal-b")
    return h.self_signed_pem(key, "郑州市卫生健康委员会")


@pytest.fixture(scope="session")
def trust_list(seal_pem: str, seal_ca_pem: str) -> TrustList:
    return h.trust_list(h.issuer_a(), h.issuer_b(seal_pem), seal_ca_certificates=(seal_ca_pem,))


@pytest.fixture(scope="session")
def token_a(signer_a: Ed25519Signer) -> bytes:
    return sign_token(h.claims(), signer_a)
