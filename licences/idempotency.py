"""Idempotency of licence commands (ADR 0003): a retried command finds its first result; a reused key is refused.

One key space for every licence command (`IDEMPOTENCY_SCOPE`); the stored request hash includes the command name
and the licence id, so reusing a key for another request or another command is an `IdempotencyConflictError`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from licences.errors import IdempotencyConflictError, InvalidFieldError
from licences.store import LicenceStore

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

MAX_IDEMPOTENCY_KEY = 128
IDEMPOTENCY_SCOPE = "licences"  # one key space for every licence command: reuse across commands is refused


def request_hash(parts: Sequence[object]) -> str:
    """The SHA-256 (hex) of a request's parts, each as text, in order."""
    return hashlib.sha256(json.dumps([str(p) for p in parts], ensure_ascii=False).encode()).hexdigest()


class Idempotency:
    """Looks up and remembers command results by idempotency key, inside the command's unit of work."""

    def __init__(self, store: LicenceStore, scope: str = IDEMPOTENCY_SCOPE) -> None:
        self.store = store
        self.scope = scope

    def replay(self, key: str | None, request: str) -> dict[str, Any] | None:
        """The first result stored under `key` for this very request, or None (no key, or first time).

        Raises `InvalidFieldError` for a malformed key and `IdempotencyConflictError` when the key was used for a
        different request.
        """
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise InvalidFieldError("idempotency_key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
        found = self.store.idempotent_result(self.scope, key)
        if found is None:
            return None
        if found[0] != request:
            raise IdempotencyConflictError(f"idempotency key {key!r} was already used for a different request")
        return found[1]

    def remember(self, conn: Connection, key: str | None, request: str, result: dict[str, Any]) -> None:
        """Store `result` under `key` in the command's transaction (nothing without a key)."""
        if key is not None:
            LicenceStore.put_idempotent_result(conn, self.scope, key, request, result)
