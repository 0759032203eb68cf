"""Helpers for the anchors tests: deterministic keys, logs that can be forked, trust lists, in-memory peers."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import StoredEvent

from anchors.cosignature import CosignatureSigner
from ledger.log import Log
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore
from seals import pki
from signatures.cose import Ed25519Signer
from signatures.keyring import KeyRecord
from signatures.note import NoteSigner
from signatures.trustlist import TrustedIssuer, TrustList, build_trust_list, sign_trust_list

TOPIC = "tests.anchors:Synthetic"
ISSUER = "11430000006122244L"
TYPE = "11100000000013338W011"
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2044, 1, 1, tzinfo=UTC)


def ed_key(label: str) -> Ed25519PrivateKey:
    """A fixed Ed25519 key derived from a label (test keys only)."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(label.encode()).digest())


def witness_signer(name: str = "witness.js.gov.example/witness") -> CosignatureSigner:
    return CosignatureSigner(name, ed_key(name))


def log_signer(origin: str) -> NoteSigner:
    return NoteSigner(origin, ed_key("log:" + origin))


def append(store: LedgerStore, count: int, *, label: str, start: int = 0) -> None:
    """Append `count` deterministic events: two stores fed the same labels hold identical leaves."""
    recorder = LedgerRecorder(store, clock=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    events = []
    for i in range(start, start + count):
        stream = uuid.uuid5(uuid.NAMESPACE_URL, f"{label}/{i}")
        events.append(StoredEvent(stream, 1, TOPIC, json.dumps({"label": label, "n": i}).encode()))
    for chunk in range(0, len(events), 500):
        recorder.insert_events(events[chunk : chunk + 500])


def sign(log: Log, signer: NoteSigner, when: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> str:
    return log.sign_checkpoint(signer, when).note


def trust_list(
    origin: str,
    root: Ed25519PrivateKey,
    *,
    issued_at: datetime,
    days: int = 7,
    previous: TrustList | None = None,
    region_name: str = "河南省",
) -> tuple[TrustList, bytes]:
    """A trust list of region `origin` signed by `root`, and its signed file bytes."""
    token_key = ed_key("token:" + origin)
    record = KeyRecord.from_public_key(token_key.public_key(), ISSUER, NOT_BEFORE)
    doc = build_trust_list(
        region_code="410000",
        region_name=region_name,
        log_origin=origin,
        log_verifier_key=log_signer(origin).verifier.to_string(),
        issuers=[TrustedIssuer(ISSUER, "河南省市场监督管理局", (TYPE,), (record,))],
        issued_at=issued_at,
        next_update=issued_at + timedelta(days=days),
        previous=previous,
    )
    return doc, json.dumps(sign_trust_list(doc, Ed25519Signer(root)), ensure_ascii=False).encode()


@dataclass
class LogSource:
    """A `PeerSource` in memory: serves one log (switchable, to play a forking peer) and a trust list."""

    log: Log
    trust_list_bytes: bytes
    proofs_asked: list[tuple[int, int]] = field(default_factory=list)

    def trust_list(self) -> bytes:
        return self.trust_list_bytes

    def checkpoint(self) -> bytes:
        cp = self.log.latest_checkpoint()
        assert cp is not None
        return cp.note.encode()

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        self.proofs_asked.append((first, second))
        return self.log.consistency_proof(first, second)

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        return self.log.inclusion_proof(index, tree_size)[1]


def tsa_pki(seed: int, name: str) -> tuple[pki.RegionCA, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A region CA and a TSA certificate under it (deterministic P-256 keys)."""
    ca = pki.create_region_ca(
        ec.derive_private_key(0xA11CE + seed, ec.SECP256R1()),
        region_name=name,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
    )
    key = ec.derive_private_key(0xA11CE + seed + 1, ec.SECP256R1())
    cert = pki.issue_tsa_certificate(
        ca,
        key.public_key(),
        name=name,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        serial_number=7,
        crl_url="http://ledger.test.example/v1/seals/crl",
    )
    return ca, cert, key
