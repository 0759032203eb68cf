"""Signing-key validity over time: a key counts only for what it signed while it was valid (DESIGN §6).

A key is registered with a validity window [not_before, not_after), may be retired (it stops signing, but what it
signed before stays good) and may be marked compromised since T (everything claiming to be signed at or after T is
refused; what was signed before T stays good). Rotation therefore never invalidates licences already issued.

Trap: offline, "signed at" is the time the signed object claims (a token's iat). Whoever holds a compromised key can
backdate that claim; the defence is the log — an online verifier should take the time of the minting leaf instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from signatures.cose import ALG_EDDSA, ALG_ES256, KID_BYTES, PublicKey, key_id_for, public_key_spki
from signatures.errors import MalformedError, VerificationError

MAX_SPKI_BYTES = 512


def _check_aware(value: datetime | None, what: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise MalformedError(f"{what} must be a timezone-aware datetime")


def _load_public_key(alg: int, spki: bytes) -> PublicKey:
    if type(spki) is not bytes or len(spki) > MAX_SPKI_BYTES:
        raise MalformedError("public key must be DER SubjectPublicKeyInfo bytes")
    try:
        key = load_der_public_key(spki)
    except (ValueError, TypeError) as exc:
        raise MalformedError("public key is not a valid DER SubjectPublicKeyInfo") from exc
    if alg == ALG_EDDSA and isinstance(key, Ed25519PublicKey):
        return key
    if alg == ALG_ES256 and isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise MalformedError(f"public key does not fit COSE algorithm {alg}")


@dataclass(frozen=True)
class KeyRecord:
    """One registered public key and its lifecycle (DESIGN §6); `public_key` is DER SPKI (RFC 5280 §4.1.2.7)."""

    kid: bytes
    alg: int  # COSE algorithm id, RFC 9053: -8 EdDSA, -7 ES256
    public_key: bytes
    owner: str  # the issuer's USCC, or a role such as "root" or "log"
    not_before: datetime
    not_after: datetime | None = None
    retired_at: datetime | None = None
    compromised_since: datetime | None = None
    _key: PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = _load_public_key(self.alg, self.public_key)
        if type(self.kid) is not bytes or len(self.kid) != KID_BYTES or self.kid != key_id_for(key):
            raise MalformedError("kid must be SHA-256(SPKI)[:8] of the public key")
        if type(self.owner) is not str or not 0 < len(self.owner) <= 64:
            raise MalformedError("key owner must be a USCC or role name")
        for value, what in ((self.not_before, "not_before"), (self.not_after, "not_after")):
            _check_aware(value, what)
        _check_aware(self.retired_at, "retired_at")
        _check_aware(self.compromised_since, "compromised_since")
        if self.not_before is None or (self.not_after is not None and self.not_after <= self.not_before):
            raise MalformedError("key validity window is empty")
        object.__setattr__(self, "_key", key)  # parsed once: verification is on the hot path

    @classmethod
    def from_public_key(
        cls, key: PublicKey, owner: str, not_before: datetime, not_after: datetime | None = None
    ) -> KeyRecord:
        """Register `key` for `owner` over [not_before, not_after); kid and alg derive from the key (RFC 7093 §2)."""
        alg = ALG_EDDSA if isinstance(key, Ed25519PublicKey) else ALG_ES256
        spki, kid = public_key_spki(key), key_id_for(key)
        return cls(kid=kid, alg=alg, public_key=spki, owner=owner, not_before=not_before, not_after=not_after)

    @property
    def key(self) -> PublicKey:
        """The parsed `cryptography` public key."""
        return self._key

    def retire(self, at: datetime) -> KeyRecord:
        """This key, no longer signing from `at`; earlier signatures stay valid."""
        return dataclasses.replace(self, retired_at=at)

    def mark_compromised(self, since: datetime) -> KeyRecord:
        """This key, distrusted for everything signed at or after `since`."""
        return dataclasses.replace(self, compromised_since=since)

    def is_compromised_at(self, signed_at: datetime) -> bool:
        """Whether a signature made at `signed_at` falls on or after the compromise time."""
        return self.compromised_since is not None and signed_at >= self.compromised_since

    def is_valid_at(self, signed_at: datetime) -> bool:
        """Whether `signed_at` lies in [not_before, min(not_after, retired_at))."""
        ends = [t for t in (self.not_after, self.retired_at) if t is not None]
        return self.not_before <= signed_at and all(signed_at < end for end in ends)


def _whole_second(value: datetime) -> int:
    return int(value.timestamp() // 1)


def key_problem_at_second(record: KeyRecord, signed_at: int) -> str | None:
    """Why `record` did not vouch for something stamped `signed_at` (Unix seconds, e.g. a token's iat), or None.

    Token times have one-second resolution, so the key's times are compared at one-second resolution too: a key
    registered during second S vouches for tokens stamped S (keys are registered, then used at once); so does a key
    retired during S (retiring is not distrust: the token stamped S was signed just before). A key compromised during
    S, or whose validity ends during S, does not (fail closed).
    Returns "key_compromised" or "key_not_valid_at_signing_time".
    """
    if record.compromised_since is not None and signed_at >= _whole_second(record.compromised_since):
        return "key_compromised"
    if signed_at < _whole_second(record.not_before):
        return "key_not_valid_at_signing_time"
    if record.not_after is not None and signed_at >= _whole_second(record.not_after):
        return "key_not_valid_at_signing_time"  # a second that straddles not_after is outside the window
    if record.retired_at is not None and signed_at > _whole_second(record.retired_at):
        return "key_not_valid_at_signing_time"
    return None


def check_key_valid_at(record: KeyRecord, signed_at: datetime) -> None:
    """Raise VerificationError unless `record` was a good key at `signed_at` (DESIGN §6 key lifecycle)."""
    _check_aware(signed_at, "signed_at")
    if record.is_compromised_at(signed_at):
        assert record.compromised_since is not None
        raise VerificationError(f"key compromised since {record.compromised_since.isoformat()}")
    if not record.is_valid_at(signed_at):
        raise VerificationError("key not valid at signing time")


@dataclass(frozen=True)
class KeyRing:
    """Key records indexed by kid; a duplicate kid is refused at construction (fail closed)."""

    records: tuple[KeyRecord, ...]
    _by_kid: Mapping[bytes, KeyRecord] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_kid = {r.kid: r for r in self.records}
        if len(by_kid) != len(self.records):
            raise MalformedError("two key records share one kid")
        object.__setattr__(self, "_by_kid", by_kid)

    @classmethod
    def of(cls, records: Iterable[KeyRecord]) -> KeyRing:
        """A key ring over `records`."""
        return cls(tuple(records))

    def get(self, kid: bytes) -> KeyRecord | None:
        """The record for `kid`, or None."""
        return self._by_kid.get(kid)

    def public_key(self, kid: bytes) -> PublicKey | None:
        """The public key for `kid`, or None: a `PublicKeyLookup` for `verify_token_signature`."""
        record = self._by_kid.get(kid)
        return None if record is None else record.key
