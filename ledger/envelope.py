"""The leaf data of the log: the RFC 8785 canonical JSON of an event envelope (DESIGN §4).

The payload is committed by its SHA-256 only, so personal data inside it can be encrypted or shredded while every
leaf still verifies.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from ledger.errors import LedgerError

_MAX_SAFE_INT = 2**53 - 1  # RFC 8785 §3.2.2.3: integers beyond this lose precision as IEEE 754 doubles
_RECORDED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def format_recorded_at(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and `Z`, the one form stored and hashed."""
    if moment.tzinfo is None:
        raise LedgerError("recorded_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Envelope:
    """What one leaf commits to: position, stream, version, event type, time, payload digest."""

    index: int
    stream: str
    version: int
    type: str
    recorded_at: str
    payload_sha256: str

    @classmethod
    def of(cls, index: int, stream: str, version: int, topic: str, recorded_at: str, state: bytes) -> Envelope:
        """Build the envelope of a stored event."""
        return cls(index, stream, version, topic, recorded_at, hashlib.sha256(state).hexdigest())

    def leaf_data(self) -> bytes:
        """RFC 8785 canonical JSON of the envelope, UTF-8 encoded.

        Written directly with the keys in JCS order (the hot path of append and audit); `canonical_json` below is
        the general form, and a property test checks both byte for byte against the `rfc8785` package.
        """
        if not (0 <= self.index <= _MAX_SAFE_INT and 0 <= self.version <= _MAX_SAFE_INT):
            raise LedgerError("index and version must be integers in the I-JSON range")
        try:
            return (
                f'{{"index":{self.index:d},"payload_sha256":{_dumps(self.payload_sha256)},'
                f'"recorded_at":{_dumps(self.recorded_at)},"stream":{_dumps(self.stream)},'
                f'"type":{_dumps(self.type)},"version":{self.version:d}}}'
            ).encode()
        except UnicodeEncodeError as exc:  # a lone surrogate cannot be UTF-8
            raise LedgerError("strings must be valid Unicode") from exc


def _dumps(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def canonical_json(obj: dict[str, str | int]) -> bytes:
    """RFC 8785 JCS for a flat object of ASCII keys, strings and safe integers.

    For this shape JCS equals `json.dumps` with sorted keys, no whitespace and no ASCII escaping: Python escapes
    exactly the characters JCS escapes (`"`, `\\`, U+0000–U+001F with the short forms and lowercase `\\u00xx`).
    A property test checks it byte for byte against the `rfc8785` package.
    """
    for key, value in obj.items():
        if not key.isascii():
            raise LedgerError("canonical_json fast path takes ASCII keys only")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise LedgerError(f"{key}: only strings and integers are allowed")
        if isinstance(value, int) and abs(value) > _MAX_SAFE_INT:
            raise LedgerError(f"{key}: integer out of the I-JSON range")
    try:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    except UnicodeEncodeError as exc:  # a lone surrogate cannot be UTF-8
        raise LedgerError("strings must be valid Unicode") from exc


def parse_leaf_data(data: bytes) -> Envelope:
    """Parse leaf data strictly: exactly the envelope keys, canonical form, valid field shapes."""
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise LedgerError("leaf data is not JSON") from exc
    keys = {"index", "stream", "version", "type", "recorded_at", "payload_sha256"}
    if not isinstance(obj, dict) or set(obj) != keys:
        raise LedgerError("leaf data must hold exactly the envelope keys")
    env = Envelope(**obj)
    if env.leaf_data() != data or not _RECORDED_AT.fullmatch(env.recorded_at):
        raise LedgerError("leaf data is not in canonical form")
    return env
