"""The SQL holder-key vault: per-holder AES-256 keys, wrapped under the region's key-encryption key.

A deleted row is a shredded holder (DESIGN §6): the ledger keeps every leaf, but the sealed personal data can never be
opened again. Keys are wrapped with AES-GCM under a KEK kept outside the database (the keystore directory), so a copy of
the database alone reveals no personal data; the holder reference is bound in as associated data.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from licences.errors import PrivacyError
from licences.privacy import HOLDER_KEY_BYTES
from licences.store import LicenceStore

_NONCE = 12
_AD = b"trustledger/holder-key/v1:"


class SqlHolderKeyVault:
    """`HolderKeyVault` on the `holder_keys` table; `kek` is the 32-byte key-encryption key."""

    def __init__(self, store: LicenceStore, kek: bytes) -> None:
        if len(kek) != 32:
            raise PrivacyError("the holder key-encryption key must be 32 bytes")
        self._store = store
        self._aead = AESGCM(kek)

    def _wrap(self, holder_ref: str, key: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, key, _AD + holder_ref.encode())

    def _unwrap(self, holder_ref: str, wrapped: bytes) -> bytes:
        try:
            key = self._aead.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], _AD + holder_ref.encode())
        except InvalidTag as exc:
            raise PrivacyError("a holder key does not unwrap under this region's key-encryption key") from exc
        if len(key) != HOLDER_KEY_BYTES:
            raise PrivacyError("a stored holder key has the wrong length")
        return key

    def get_or_create(self, holder_ref: str) -> bytes:
        """The holder's key, created on first use (concurrent creators agree on the first one stored)."""
        return self.get_or_create_many([holder_ref])[holder_ref]

    def get_or_create_many(self, holder_refs: Iterable[str]) -> dict[str, bytes]:
        """Keys of many holders in two round trips: one read, one insert of the missing ones."""
        refs = sorted(set(holder_refs))
        found = self._store.wrapped_holder_keys(refs)
        missing = {r: self._wrap(r, AESGCM.generate_key(bit_length=256)) for r in refs if r not in found}
        if missing:
            found |= self._store.add_wrapped_holder_keys(missing)
        return {r: self._unwrap(r, found[r]) for r in refs}

    def prepare_many(self, holder_refs: Iterable[str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """Keys of many holders with one read; new holders get fresh keys, returned wrapped for the caller to store
        in its own transaction (`LicenceStore.insert_wrapped_holder_keys`), so issuing costs no extra commit."""
        refs = sorted(set(holder_refs))
        found = self._store.wrapped_holder_keys(refs)
        keys = {r: self._unwrap(r, w) for r, w in found.items()}
        fresh: dict[str, bytes] = {}
        for ref in refs:
            if ref not in keys:
                keys[ref] = AESGCM.generate_key(bit_length=256)
                fresh[ref] = self._wrap(ref, keys[ref])
        return keys, fresh

    def get(self, holder_ref: str) -> bytes | None:
        """The holder's key, or None when there never was one or it was shredded."""
        wrapped = self._store.wrapped_holder_key(holder_ref)
        return None if wrapped is None else self._unwrap(holder_ref, wrapped)

    def shred(self, holder_ref: str) -> None:
        """Destroy the holder's key for good."""
        self._store.delete_holder_key(holder_ref)
