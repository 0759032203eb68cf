"""Holder personal data: per-holder AES-256-GCM sealing, crypto-shredding, and the salted holder digest.

DESIGN §6: events carry personal data encrypted with a key per holder, bound to the stream id and event version as
associated data; shredding the holder's key destroys the data while every Merkle leaf (which commits to the payload
digest) still verifies. No I/O here: keys come from a `HolderKeyVault` the application injects.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from licences.catalogue.model import FieldValue
from licences.errors import HolderDataShreddedError, PrivacyError

HOLDER_KEY_BYTES = 32
HOLDER_DIGEST_BYTES = 16
MIN_SALT_BYTES = 16
NONCE_BYTES = 12
BLOB_FORMAT = 1
MAX_BLOB_CHARS = 64 * 1024
_AD_LABEL = b"trustledger/holder-data/v1"


@dataclass(frozen=True)
class HolderData:
    """A holder's personal data as sealed in events: name, ID number, and the personal fields of the licence."""

    name: str
    id_number: str
    personal_fields: Mapping[str, FieldValue] = field(default_factory=dict)


def holder_digest(salt: bytes, holder_id: str) -> bytes:
    """The 16-byte holder digest `hd` (DESIGN §6): SHA-256(salt ‖ UTF-8 holder number), truncated to 16 bytes.

    The salt is the region's secret, so the digest links a holder's licences without revealing the number.
    """
    if len(salt) < MIN_SALT_BYTES:
        raise PrivacyError(f"holder digest salt must be at least {MIN_SALT_BYTES} bytes")
    return hashlib.sha256(salt + holder_id.encode("utf-8")).digest()[:HOLDER_DIGEST_BYTES]


def associated_data(stream_id: UUID, event_version: int) -> bytes:
    """The AES-GCM associated data binding a sealed blob to one event: label ‖ stream id ‖ 8-byte version."""
    return _AD_LABEL + stream_id.bytes + event_version.to_bytes(8, "big")


def seal_holder(key: bytes, stream_id: UUID, event_version: int, data: HolderData, nonce: bytes | None = None) -> str:
    """Encrypt `data` for the event at (`stream_id`, `event_version`); returns base64(format ‖ nonce ‖ ciphertext).

    `nonce` is for test vectors only: production callers let a fresh random nonce be drawn.
    """
    _check_key(key)
    nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(nonce) != NONCE_BYTES:
        raise PrivacyError(f"nonce must be {NONCE_BYTES} bytes")
    plaintext = json.dumps(
        {"name": data.name, "id_number": data.id_number, "fields": dict(data.personal_fields)},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    ).encode("utf-8")
    ciphertext = AESGCM(key).encrypt(nonce, plaintext, associated_data(stream_id, event_version))
    return base64.b64encode(bytes([BLOB_FORMAT]) + nonce + ciphertext).decode("ascii")


def open_holder(key: bytes | None, stream_id: UUID, event_version: int, blob: str) -> HolderData:
    """Decrypt a blob sealed by `seal_holder` for the same event; a missing key means the data was shredded.

    Raises `HolderDataShreddedError` without a key and `PrivacyError` for a wrong key, event or tampered blob.
    """
    if key is None:
        raise HolderDataShreddedError("the holder's key has been shredded")
    _check_key(key)
    raw = _decode_blob(blob)
    nonce, ciphertext = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
    try:
        plaintext = AESGCM(key).decrypt(nonce, ciphertext, associated_data(stream_id, event_version))
    except InvalidTag:
        raise PrivacyError("holder data does not open: wrong key, wrong event, or tampered") from None
    return _parse_plaintext(plaintext)


def _decode_blob(blob: str) -> bytes:
    if len(blob) > MAX_BLOB_CHARS:
        raise PrivacyError(f"holder data blob longer than {MAX_BLOB_CHARS} characters")
    try:
        raw = base64.b64decode(blob, validate=True)
    except (binascii.Error, ValueError):
        raise PrivacyError("holder data blob is not base64") from None
    if len(raw) < 1 + NONCE_BYTES + 16 or raw[0] != BLOB_FORMAT:
        raise PrivacyError("holder data blob has an unknown format or is truncated")
    return raw


def _parse_plaintext(plaintext: bytes) -> HolderData:
    try:
        doc = json.loads(plaintext.decode("utf-8"))
        name, id_number, fields = doc["name"], doc["id_number"], doc["fields"]
    except (ValueError, KeyError, TypeError):
        raise PrivacyError("holder data plaintext is malformed") from None
    if not (isinstance(name, str) and isinstance(id_number, str) and isinstance(fields, dict)):
        raise PrivacyError("holder data plaintext is malformed")
    return HolderData(name, id_number, fields)


def _check_key(key: bytes) -> None:
    if len(key) != HOLDER_KEY_BYTES:
        raise PrivacyError(f"holder key must be {HOLDER_KEY_BYTES} bytes")


class HolderKeyVault(Protocol):
    """Port: where per-holder keys live. `holder_ref` is an opaque reference such as the holder digest in hex."""

    def get_or_create(self, holder_ref: str) -> bytes:
        """The holder's key, created on first use."""
        ...

    def get(self, holder_ref: str) -> bytes | None:
        """The holder's key, or None if there never was one or it was shredded."""
        ...

    def shred(self, holder_ref: str) -> None:
        """Destroy the holder's key for good; data sealed under it can never be opened again."""
        ...


class InMemoryHolderKeyVault:
    """A `HolderKeyVault` in a dict, for tests and benchmarks; `key_factory` makes it deterministic if needed."""

    def __init__(self, key_factory: Callable[[], bytes] | None = None) -> None:
        self._keys: dict[str, bytes] = {}
        self._key_factory = key_factory or (lambda: AESGCM.generate_key(bit_length=256))

    def get_or_create(self, holder_ref: str) -> bytes:
        """The holder's key, created on first use (a shredded holder gets a new, unrelated key)."""
        key = self._keys.get(holder_ref)
        if key is None:
            key = self._key_factory()
            _check_key(key)
            self._keys[holder_ref] = key
        return key

    def get(self, holder_ref: str) -> bytes | None:
        """The holder's key, or None."""
        return self._keys.get(holder_ref)

    def shred(self, holder_ref: str) -> None:
        """Forget the holder's key."""
        self._keys.pop(holder_ref, None)
