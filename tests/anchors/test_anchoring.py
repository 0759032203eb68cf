"""RFC 3161 anchors of checkpoints: stored, re-verified, checked by `openssl ts -verify`; each forgery rejected."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives.serialization import Encoding

from anchors.anchoring import anchor_checkpoint, verify_anchor
from anchors.errors import TimestampUnavailableError
from anchors.model import note_digest
from anchors.store import AnchorStore
from ledger.log import Log
from seals import pki
from seals.timestamps import LocalTimestamper, request_timestamp, verify_timestamp_token
from seals.tsa import TimeStampAuthority, TsaHttpServer
from signatures.errors import VerificationError
from tests.anchors.conftest import ORIGIN
from tests.anchors.helpers import append, log_signer, sign, tsa_pki
from tests.conftest import FakeClock

CA, TSA_CERT, TSA_KEY = tsa_pki(1, "河南省")
OTHER_CA, OTHER_CERT, OTHER_KEY = tsa_pki(10, "江苏省")


class Tsa:
    """The region TSA as the anchors ports see it, counting requests."""

    def __init__(self, clock: FakeClock, cert: object = TSA_CERT, key: object = TSA_KEY) -> None:
        self.authority = TimeStampAuthority(cert, key, chain=(CA.certificate,), clock=clock)  # type: ignore[arg-type]
        self.calls = 0
        self.roots = [CA.certificate]

    def timestamp(self, digest: bytes) -> bytes:
        self.calls += 1
        return LocalTimestamper(self.authority).timestamp(digest)

    def verify(self, token: bytes, digest: bytes):  # type: ignore[no-untyped-def]
        return verify_timestamp_token(token, digest, self.roots)


@pytest.fixture
def note(log: Log) -> str:
    append(log.store, 12, label="shared")
    return sign(log, log_signer(ORIGIN))


def test_anchor_is_stored_verifies_and_is_not_taken_twice(
    anchor_store: AnchorStore, note: str, clock: FakeClock
) -> None:
    tsa = Tsa(clock)
    anchor = anchor_checkpoint(anchor_store, note, tsa, tsa, clock)
    assert (anchor.origin, anchor.tree_size, anchor.gen_time) == (ORIGIN, 12, clock())
    assert anchor_store.timestamps_at(12) == [anchor]
    assert anchor_store.latest_timestamp() == anchor
    assert verify_anchor(anchor, tsa) == clock()
    clock.advance(seconds=5)
    assert anchor_checkpoint(anchor_store, note, tsa, tsa, clock) == anchor
    assert tsa.calls == 1


def test_openssl_ts_verifies_the_anchor(anchor_store: AnchorStore, note: str, clock: FakeClock, tmp_path: Path) -> None:
    tsa = Tsa(clock)
    anchor = anchor_checkpoint(anchor_store, note, tsa, tsa, clock)
    (tmp_path / "note").write_bytes(anchor.note.encode())
    (tmp_path / "token.der").write_bytes(anchor.token)
    (tmp_path / "ca.pem").write_bytes(pki.certificate_pem(CA.certificate))
    verify = ["openssl", "ts", "-verify", "-in", str(tmp_path / "token.der"), "-token_in"]
    ca = ["-CAfile", str(tmp_path / "ca.pem")]
    ok = subprocess.run([*verify, "-data", str(tmp_path / "note"), *ca], capture_output=True, text=True)
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stderr
    (tmp_path / "forged").write_bytes(anchor.note.replace("\n12\n", "\n13\n").encode())
    forged = subprocess.run(
        [*verify, "-data", str(tmp_path / "forged"), "-CAfile", str(tmp_path / "ca.pem")],
        capture_output=True,
        text=True,
    )
    assert forged.returncode != 0 and "Verification: OK" not in forged.stdout


def _regions(token: bytes) -> dict[str, tuple[int, int]]:
    """Where the parts that carry meaning sit in the DER token."""
    signed = cms.ContentInfo.load(token)["content"]
    signer = signed["signer_infos"][0]
    tsa_der = TSA_CERT.public_bytes(Encoding.DER)
    parts = {
        "tstinfo": signed["encap_content_info"].dump(),
        "tsa certificate": tsa_der,
        "signed attributes": signer["signed_attrs"].dump(),
        "signature": signer["signature"].dump(),
    }
    return {name: (token.index(der), token.index(der) + len(der)) for name, der in parts.items()}


def test_a_tampered_note_or_token_does_not_verify(anchor_store: AnchorStore, note: str, clock: FakeClock) -> None:
    tsa = Tsa(clock)
    anchor = anchor_checkpoint(anchor_store, note, tsa, tsa, clock)
    with pytest.raises(VerificationError, match="imprint"):
        verify_anchor(replace(anchor, note=anchor.note.replace("\n12\n", "\n13\n")), tsa)
    with pytest.raises(VerificationError, match="genTime"):
        verify_anchor(replace(anchor, gen_time=anchor.gen_time + timedelta(seconds=1)), tsa)
    # A flipped bit anywhere in what the token asserts or in who signed it is caught (the copy of the CA in the
    # token is not: verification chains to the trusted root, never to a certificate the token brings along).
    for name, (start, end) in _regions(anchor.token).items():
        for offset in range(start, end, max(1, (end - start) // 24)):
            flipped = bytearray(anchor.token)
            flipped[offset] ^= 0x01
            with pytest.raises(VerificationError):
                verify_anchor(replace(anchor, token=bytes(flipped)), tsa)
            assert name  # which region, for the failure message


def test_a_token_from_an_untrusted_tsa_is_refused(anchor_store: AnchorStore, note: str, clock: FakeClock) -> None:
    other_ca, other_cert, other_key = tsa_pki(10, "江苏省")
    foreign = TimeStampAuthority(other_cert, other_key, chain=(other_ca.certificate,), clock=clock)
    token = LocalTimestamper(foreign).timestamp(note_digest(note))
    with pytest.raises(VerificationError, match="trusted root"):
        verify_timestamp_token(token, note_digest(note), [CA.certificate])
    with pytest.raises(VerificationError, match="no trusted"):
        verify_timestamp_token(token, note_digest(note), [])


def test_a_tsa_answering_for_another_digest_is_not_stored(
    anchor_store: AnchorStore, note: str, clock: FakeClock
) -> None:
    tsa = Tsa(clock)

    class Liar(Tsa):
        def timestamp(self, digest: bytes) -> bytes:
            return super().timestamp(hashlib.sha256(b"something else").digest())

    liar = Liar(clock)
    with pytest.raises(TimestampUnavailableError):
        anchor_checkpoint(anchor_store, note, liar, tsa, clock)
    assert anchor_store.timestamps_at(12) == []


def test_tsa_certificate_outside_its_validity_is_refused(note: str, clock: FakeClock) -> None:
    clock.now = TSA_CERT.not_valid_after_utc + timedelta(days=1)
    token = LocalTimestamper(TimeStampAuthority(TSA_CERT, TSA_KEY, clock=clock)).timestamp(note_digest(note))
    with pytest.raises(VerificationError, match="not valid at"):
        verify_timestamp_token(token, note_digest(note), [CA.certificate])


def test_http_client_gets_a_verifiable_token(clock: FakeClock) -> None:
    digest = hashlib.sha256(b"checkpoint").digest()
    with TsaHttpServer(TimeStampAuthority(TSA_CERT, TSA_KEY, chain=(CA.certificate,), clock=clock)) as server:
        token = request_timestamp(server.url, digest)
    assert verify_timestamp_token(token, digest, [CA.certificate]) == clock()
