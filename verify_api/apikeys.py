"""API keys bound to a role and a principal (DESIGN §8): format, hashing, and the checks on who may hold one.

A key is `tlk_<key id>_<secret>`: the 12-hex key id is public (it names the row), the 32-byte secret is shown once at
creation and stored only as SHA-256 of the whole key. A 256-bit random secret needs no slow password hash: there is
nothing to brute-force from the digest. Look-up is by key id, then a constant-time comparison of the digests.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from licences.errors import InvalidFieldError
from licences.identifiers import parse_uscc
from verify_api.errors import ApiKeyError

KEY_PREFIX = "tlk"
_KEY = re.compile(r"tlk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_KEY_ID = re.compile(r"[0-9a-f]{12}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
MAX_PRESENTED_KEY = 128


class Role(StrEnum):
    """What a key's holder is: an issuing department, an approval system, an auditor, or the region operator."""

    ISSUER = "issuer"
    VERIFIER = "verifier"
    AUDITOR = "auditor"
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: role, principal (department USCC or system name) and the key that proved it."""

    role: Role
    principal: str
    key_id: str


@dataclass(frozen=True)
class ApiKeyRecord:
    """One stored key (never the secret): id, role, principal, label, when created and, if so, revoked."""

    key_id: str
    role: Role
    principal: str
    name: str
    created_at: datetime
    revoked_at: datetime | None
    key_hash: str

    @property
    def active(self) -> bool:
        """Whether the key still authenticates."""
        return self.revoked_at is None

    def as_principal(self) -> Principal:
        """The caller this key authenticates."""
        return Principal(self.role, self.principal, self.key_id)


def parse_role(text: str) -> Role:
    """The role named `text`, or ApiKeyError listing the roles."""
    try:
        return Role(text)
    except ValueError:
        raise ApiKeyError(f"role must be one of {', '.join(r.value for r in Role)}, not {text!r}") from None


def check_principal(role: Role, principal: str) -> str:
    """Validate a principal for its role: an issuer is a department USCC (GB 32100), others a printable name."""
    if role is Role.ISSUER:
        try:
            return str(parse_uscc(principal, field="principal"))
        except InvalidFieldError as exc:
            raise ApiKeyError(f"an issuer key's principal must be the department's USCC: {exc.reason}") from exc
    if not _NAME.fullmatch(principal) or not principal.strip():
        raise ApiKeyError("principal must be 1-128 printable characters")
    return principal


def check_key_id(text: str) -> str:
    """A key id as `apikey revoke` takes it: 12 lower-case hex characters."""
    if not _KEY_ID.fullmatch(text):
        raise ApiKeyError("key id must be 12 lower-case hex characters")
    return text


def new_key() -> tuple[str, str]:
    """(key id, full key) of a fresh random key; the full key is shown once and never stored."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"


def key_hash(key: str) -> str:
    """Hex SHA-256 of the full key, as stored."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def split_key(presented: str) -> str | None:
    """The key id of a well-formed presented key, or None (nothing about a malformed key is looked up)."""
    if len(presented) > MAX_PRESENTED_KEY:
        return None
    m = _KEY.fullmatch(presented)
    return m.group(1) if m else None


def matches(record: ApiKeyRecord, presented: str) -> bool:
    """Whether `presented` is this record's key, compared in constant time, and the key is not revoked."""
    same = hmac.compare_digest(record.key_hash.encode(), key_hash(presented).encode())
    return same and record.active
