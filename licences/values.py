"""Values of the licence domain: lifecycle phases, derived statuses, stream ids, the UTC rule for times, and the
bounds on every time and text accepted as input (one place for the API, the CLI and bulk import)."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NewType, ParamSpec, TypeVar
from uuid import NAMESPACE_OID, UUID, uuid5

from licences.errors import InvalidFieldError
from licences.identifiers import LicenceIdentifier

T = TypeVar("T")
P = ParamSpec("P")
LICENCE_NAMESPACE = uuid5(NAMESPACE_OID, "1.2.156.3005.2")

LicenceId = NewType("LicenceId", UUID)
"""The stream id of a licence; produced by `licence_id_for` (minting) and `LicenceService.resolve` (lookups)."""
Uscc = NewType("Uscc", str)
"""A Unified Social Credit Code (GB 32100) as text, once `licences.identifiers.parse_uscc` has checked it."""


class Lifecycle(StrEnum):
    """The recorded phase of a licence; the status shown to verifiers also depends on the clock."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class LicenceStatus(StrEnum):
    """The status shown to verifiers and citizens (现势状态), derived by `Licence.status_at`."""

    VALID = "valid"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class RevocationKind(StrEnum):
    """注销 (voluntary, at the holder's request) or 吊销 (as a penalty)."""

    VOLUNTARY = "voluntary"
    PENALTY = "penalty"


@dataclass(frozen=True, slots=True)
class SealedDocument:
    """A sealed PDF recorded on the ledger: its SHA-256 and the licence version it shows."""

    licence_version: int
    pdf_sha256: str
    sealed_at: datetime


STREAM_KEY_LABEL = b"trustledger/licence-stream/v1"


def stream_key(holder_salt: bytes) -> bytes:
    """The region's key for licence stream ids, derived from the secret holder salt (one secret to keep)."""
    return hmac.new(holder_salt, STREAM_KEY_LABEL, hashlib.sha256).digest()


def licence_id_for(identifier: LicenceIdentifier, key: bytes) -> LicenceId:
    """The stream id of a licence: a UUIDv8 (RFC 9562) from HMAC-SHA-256 under the region's stream key of type,
    issuer and serial. Every version shares it and a retried issue lands on the same stream (the store's version
    check then makes the retry return the first result), yet nobody without the key can compute it from a printed
    identifier, so the public log cannot be searched for a licence by guessing identifiers (docs/adr/0013)."""
    name = f"{identifier.type_code}.{identifier.issuer}.{identifier.serial}".encode()
    raw = bytearray(hmac.new(key, name, hashlib.sha256).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC 9562 variant
    return LicenceId(UUID(bytes=bytes(raw)))


def utc(moment: datetime, field: str = "now") -> datetime:
    """Return `moment` in UTC; naive date-times are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFieldError(field, "must be timezone-aware")
    return moment.astimezone(UTC)


# -- input bounds: the one place that says which times and texts the ledger accepts ---------------------------------

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
"""The earliest instant accepted as input: older dates are typos, and near year 1 a zone shift overflows."""
LATEST = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)
"""The latest instant accepted as input: later ones overflow `datetime` once a validity period is added to them."""
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})  # controls, format (bidi, zero-width) and lone surrogates


def bounded(moment: datetime, field: str) -> datetime:
    """`moment` in UTC if it is timezone-aware and within `EARLIEST`…`LATEST`; else `InvalidFieldError(field)`."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidFieldError(field, "must be timezone-aware")
    try:
        instant = moment.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant <= LATEST:
        raise InvalidFieldError(field, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC)")
    return instant


def control_character(text: str) -> str | None:
    """The first character of `text` that is a control, format (bidi override, zero-width…) or lone surrogate
    character, as `U+XXXX`; None if there is none. An ordinary space is fine; tabs and newlines are not."""
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"U+{ord(char):04X}"
    return None


def plain_text(text: str, field: str) -> str:
    """`text` unchanged if it has no control or format character (see `control_character`), else
    `InvalidFieldError(field)`: such characters vanish or reorder in documents, so ledger and PDF would disagree."""
    found = control_character(text)
    if found is not None:
        raise InvalidFieldError(field, f"must not contain control or format characters (found {found})")
    return text


class InvalidFieldsError(InvalidFieldError):
    """Several input fields failed validation at once: `field` and `reason` are the first, `errors` all of them."""

    def __init__(self, errors: Sequence[InvalidFieldError]) -> None:
        first = errors[0]
        super().__init__(first.field, first.reason)
        self.errors: tuple[InvalidFieldError, ...] = tuple(errors)
        if len(errors) > 1:
            self.args = ("; ".join(f"invalid {e.field}: {e.reason}" for e in errors),)


class FieldErrors:
    """Collects the `InvalidFieldError`s of several checks so that one error can name every bad field at once."""

    def __init__(self) -> None:
        self.errors: list[InvalidFieldError] = []

    def check(self, check: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T | None:
        """The result of `check(*args, **kwargs)`, or None after remembering the `InvalidFieldError` it raised."""
        try:
            return check(*args, **kwargs)
        except InvalidFieldsError as exc:
            self.errors.extend(exc.errors)
        except InvalidFieldError as exc:
            self.errors.append(exc)
        return None

    def raise_any(self) -> None:
        """Raise the collected errors: the error itself when there is one, `InvalidFieldsError` for several."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise InvalidFieldsError(self.errors)
