"""Idempotency of licence commands (ADR 0003): a retried command finds its first result; a reused key is refused.

One key space for every licence command (`IDEMPOTENCY_SCOPE`); the request digest includes the command name and the
licence id, so reusing a key for another request or another command is an `IdempotencyConflictError`.

What is stored is never a bare hash of the request, which carries personal data (an issue request has the holder's
name and ID number): it is the request's *fingerprint*, HMAC-SHA-256 under a key derived from the region's secret
holder salt, so a copy of the database cannot be searched by guessing (ADR 0013). Each record also names the licence
its result is about; shredding a holder blinds the records of the holder's licences (`LicenceStore.delete_holder_key`),
so not even the region, which holds the secret, can test a guess against them afterwards.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from licences.errors import IdempotencyConflictError, InvalidFieldError, PrivacyError
from licences.privacy import MIN_SALT_BYTES
from licences.store import SHREDDED_FINGERPRINT, LicenceStore

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

MAX_IDEMPOTENCY_KEY = 128
IDEMPOTENCY_SCOPE = "licences"  # one key space for every licence command: reuse across commands is refused
_FINGERPRINT_LABEL = b"trustledger/idempotency-fingerprint/v1"
_USE_KEY_LABEL = b"trustledger/use-stream/v1"


def request_hash(parts: Sequence[object]) -> str:
    """The SHA-256 (hex) of a request's parts, each as text, in order: an in-memory digest, never stored as such
    (`Idempotency` stores only its keyed fingerprint)."""
    return hashlib.sha256(json.dumps([str(p) for p in parts], ensure_ascii=False).encode()).hexdigest()


def fingerprint_key(secret: bytes) -> bytes:
    """The fingerprint key: HMAC-SHA-256(secret, label), so the holder salt is never used directly for two purposes."""
    if len(secret) < MIN_SALT_BYTES:
        raise PrivacyError(f"the idempotency secret must be at least {MIN_SALT_BYTES} bytes")
    return hmac.new(secret, _FINGERPRINT_LABEL, hashlib.sha256).digest()


class Idempotency:
    """Looks up and remembers command results by idempotency key, inside the command's unit of work.

    `secret` is the region's secret holder salt (`keys/holder-salt`): the stored fingerprints are keyed with it.
    """

    def __init__(self, store: LicenceStore, secret: bytes, scope: str = IDEMPOTENCY_SCOPE) -> None:
        self.store = store
        self.scope = scope
        self._key = fingerprint_key(secret)
        self._use_key = hmac.new(secret, _USE_KEY_LABEL, hashlib.sha256).digest()

    def use_key(self, key: str) -> str:
        """What a use's stream id is derived from instead of the caller's key (`invocation_id_for`): HMAC-SHA-256
        under a region secret, hex. The stream id stays deterministic, so a retry lands on the same stream, but an
        outsider who can compute the licence id and guess the key cannot find the use in the public log."""
        return hmac.new(self._use_key, key.encode("utf-8"), hashlib.sha256).hexdigest()

    def fingerprint(self, request: str) -> str:
        """What is stored for a request digest: HMAC-SHA-256 under the region's fingerprint key, hex (64 chars)."""
        return hmac.new(self._key, request.encode("utf-8"), hashlib.sha256).hexdigest()

    def replay(self, key: str | None, request: str) -> dict[str, Any] | None:
        """The first result stored under `key` for this very request, or None (no key, or first time).

        Raises `InvalidFieldError` for a malformed key and `IdempotencyConflictError` when the key was used for a
        different request, or for a request whose holder has since been shredded (its record is blinded).
        """
        if key is None:
            return None
        _check_key(key)
        found = self.store.idempotent_result(self.scope, key)
        if found is None:
            return None
        if found[0] == SHREDDED_FINGERPRINT:
            raise IdempotencyConflictError(
                f"idempotency key {key!r} was used for a request about a shredded holder; use a new key"
            )
        if not hmac.compare_digest(found[0], self.fingerprint(request)):
            raise IdempotencyConflictError(f"idempotency key {key!r} was already used for a different request")
        return found[1]

    def remember(self, conn: Connection, key: str | None, request: str, result: dict[str, Any]) -> None:
        """Store `result` under `key` in the command's transaction (nothing without a key); `result["licence_id"]`,
        which every licence command returns, links the record to the licence so a shred can blind it."""
        if key is not None:
            _check_key(key)
            licence_id = result.get("licence_id")
            LicenceStore.put_idempotent_result(
                conn,
                self.scope,
                key,
                self.fingerprint(request),
                result,
                licence_id=None if licence_id is None else str(licence_id),
            )


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidFieldError("idempotency_key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
