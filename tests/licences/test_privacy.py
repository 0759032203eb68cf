"""Holder data sealing: round trip, binding to stream and version, tamper detection, shredding, the digest."""

from __future__ import annotations

import base64
import hashlib
from uuid import UUID

import pytest

from licences.errors import HolderDataShreddedError, PrivacyError
from licences.privacy import HolderData, InMemoryHolderKeyVault, holder_digest, open_holder, seal_holder

KEY = bytes(range(32))
STREAM = UUID("12345678-1234-5678-1234-567812345678")
DATA = HolderData("张三丰", "11010519491231002X", {"address": "郑州市"})


def test_round_trip() -> None:
    blob = seal_holder(KEY, STREAM, 1, DATA)
    assert open_holder(KEY, STREAM, 1, blob) == DATA
    assert "张三丰".encode() not in base64.b64decode(blob)


def test_fixed_nonce_is_deterministic_and_nonces_are_fresh_otherwise() -> None:
    nonce = b"\x00" * 12
    assert seal_holder(KEY, STREAM, 1, DATA, nonce) == seal_holder(KEY, STREAM, 1, DATA, nonce)
    assert seal_holder(KEY, STREAM, 1, DATA) != seal_holder(KEY, STREAM, 1, DATA)


@pytest.mark.parametrize(
    ("key", "stream", "version"),
    [(bytes(32), STREAM, 1), (KEY, UUID(int=1), 1), (KEY, STREAM, 2)],
)
def test_blob_is_bound_to_key_stream_and_version(key: bytes, stream: UUID, version: int) -> None:
    blob = seal_holder(KEY, STREAM, 1, DATA)
    with pytest.raises(PrivacyError):
        open_holder(key, stream, version, blob)


def test_every_flipped_byte_is_detected() -> None:
    raw = base64.b64decode(seal_holder(KEY, STREAM, 1, DATA))
    for i in range(len(raw)):
        flipped = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :]
        with pytest.raises(PrivacyError):
            open_holder(KEY, STREAM, 1, base64.b64encode(flipped).decode())


@pytest.mark.parametrize("blob", ["not base64!", "", "AQ==", "x" * 70_000])
def test_malformed_blobs_are_rejected(blob: str) -> None:
    with pytest.raises(PrivacyError):
        open_holder(KEY, STREAM, 1, blob)


def test_shredding_makes_data_unreadable() -> None:
    vault = InMemoryHolderKeyVault()
    key = vault.get_or_create("holder")
    assert vault.get_or_create("holder") == key
    blob = seal_holder(key, STREAM, 1, DATA)
    vault.shred("holder")
    assert vault.get("holder") is None
    with pytest.raises(HolderDataShreddedError):
        open_holder(vault.get("holder"), STREAM, 1, blob)
    with pytest.raises(PrivacyError):
        open_holder(vault.get_or_create("holder"), STREAM, 1, blob)  # a new key opens nothing old


def test_holder_digest() -> None:
    salt = b"s" * 16
    digest = holder_digest(salt, "91350100M000100Y43")
    assert len(digest) == 16
    assert digest == hashlib.sha256(salt + b"91350100M000100Y43").digest()[:16]
    assert holder_digest(b"t" * 16, "91350100M000100Y43") != digest
    with pytest.raises(PrivacyError):
        holder_digest(b"short", "91350100M000100Y43")


def test_keys_must_be_256_bits() -> None:
    with pytest.raises(PrivacyError):
        seal_holder(b"k" * 16, STREAM, 1, DATA)
