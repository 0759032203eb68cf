"""`trustledger verify`: a licence token checked offline against a trust list, and online against the ledger.

Offline (DESIGN §6): the signed trust list is verified against the pinned root key, then the token against the trust
list (signature, key lifecycle at signing time, issuer and licence type, validity period). Online adds the ledger's
word: the minting event is this licence's, the key was good when the ledger recorded it, and the licence's current
status (revoked, suspended, expired, superseded by a newer version).

Every failed check becomes a `Reason` with a stable code; the verdict is valid only if there are none.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)

from signatures.cose import LicenceClaims, TokenReason, b64url_encode, key_id_for
from signatures.errors import MalformedError, VerificationError
from signatures.offline import validate_token_offline
from signatures.trustlist import MAX_TRUST_LIST_BYTES, TrustList, parse_signed_trust_list, verify_trust_list

TRUST_LIST_SIGNATURE_INVALID = "trust_list_signature_invalid"
TRUST_LIST_MALFORMED = "trust_list_malformed"
NOT_ON_LEDGER = "not_on_ledger"
REVOKED, SUSPENDED, SUPERSEDED, EXPIRED = "revoked", "suspended", "superseded", "expired"
MAX_ROOT_KEY_TEXT = 4096
_MINTING_EVENTS = frozenset({"LicenceIssued", "LicenceRenewed", "LicenceAmended"})

_TITLES = {
    TokenReason.MALFORMED: "malformed token",
    TokenReason.TRUST_LIST_STALE: "trust list stale",
    TokenReason.UNKNOWN_KEY: "unknown key",
    TokenReason.BAD_SIGNATURE: "bad signature",
    TokenReason.OTHER_LOG: "token of another region's log",
    TokenReason.KEY_NOT_ISSUERS: "key belongs to another issuer",
    TokenReason.KEY_NOT_VALID: "key not valid at signing time",
    TokenReason.KEY_COMPROMISED: "key compromised",
    TokenReason.TYPE_NOT_ALLOWED: "issuer not authorised for the licence type",
    TokenReason.NOT_YET_VALID: "not yet valid",
    TokenReason.EXPIRED: "expired",
    TRUST_LIST_SIGNATURE_INVALID: "trust list signature invalid",
    TRUST_LIST_MALFORMED: "trust list malformed",
    NOT_ON_LEDGER: "not on the ledger",
    REVOKED: "revoked",
    SUSPENDED: "suspended",
    SUPERSEDED: "superseded by a newer version",
}


class UsageError(Exception):
    """The command was called wrongly (exit 2): a missing file, an unusable root key, a missing option."""


@dataclass(frozen=True)
class Reason:
    """One failed check: a stable code, a short title and what exactly was wrong."""

    code: str
    detail: str

    @property
    def title(self) -> str:
        """Human title of the code, e.g. "key not valid at signing time"."""
        return _TITLES.get(self.code, self.code.replace("_", " "))

    def to_json(self) -> dict[str, str]:
        """JSON form."""
        return {"code": self.code, "title": self.title, "detail": self.detail}


@dataclass(frozen=True)
class VerifyReport:
    """The verdict of `trustledger verify`: valid only when no check failed."""

    mode: str  # "offline" | "online"
    checked_at: datetime
    reasons: tuple[Reason, ...]
    claims: LicenceClaims | None = None  # shown only once the signature and key checks passed
    issuer_name: str | None = None
    trust_list: TrustList | None = None
    licence: dict[str, Any] | None = field(default=None)  # online: the ledger's current view

    @property
    def valid(self) -> bool:
        """True only if every check passed."""
        return not self.reasons

    def to_json(self) -> dict[str, Any]:
        """The `--json` document."""
        doc: dict[str, Any] = {
            "verdict": "valid" if self.valid else "invalid",
            "valid": self.valid,
            "mode": self.mode,
            "checked_at": _iso(self.checked_at),
            "reasons": [r.to_json() for r in self.reasons],
            "token": None if self.claims is None else claims_json(self.claims),
            "issuer_name": self.issuer_name,
            "trust_list": None if self.trust_list is None else trust_list_json(self.trust_list),
        }
        if self.mode == "online":
            doc["licence"] = self.licence
        return doc

    def text(self) -> str:
        """The human form: verdict line, reasons, then what the token says (if authentic)."""
        lines = ["VALID" if self.valid else "NOT VALID"]
        lines += [f"  reason: {r.title} ({r.code}): {r.detail}" for r in self.reasons]
        if self.claims is not None:
            c = self.claims
            lines.append(f"  licence: {c.subject} (version {c.version}, type {c.licence_type})")
            lines.append(f"  issuer: {self.issuer_name or '?'} ({c.issuer})")
            until = "no expiry" if c.expires_at is None else _iso(_from_ts(c.expires_at))
            lines.append(f"  valid: {_iso(_from_ts(c.not_before))} .. {until}")
        if self.licence is not None:
            lines.append(
                f"  ledger: {self.licence.get('status')}, current version {self.licence.get('licence_version')}"
            )
        if self.trust_list is not None:
            t = self.trust_list
            lines.append(f"  trust list: {t.region_name} version {t.version}, next update {_iso(t.next_update)}")
        if self.mode == "offline" and self.valid:
            lines.append("  (offline: suspension or revocation after the trust list was issued needs the online check)")
        return "\n".join(lines) + "\n"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _from_ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def claims_json(c: LicenceClaims) -> dict[str, Any]:
    """The token's claims by name (the holder digest as hex)."""
    return {
        "iss": c.issuer,
        "sub": c.subject,
        "iat": _iso(_from_ts(c.issued_at)),
        "nbf": _iso(_from_ts(c.not_before)),
        "exp": None if c.expires_at is None else _iso(_from_ts(c.expires_at)),
        "typ": c.licence_type,
        "ver": c.version,
        "hd": c.holder_digest.hex(),
        "li": c.leaf_index,
        "rg": c.log_origin,
    }


def trust_list_json(t: TrustList) -> dict[str, Any]:
    """Which trust list the verdict rests on."""
    return {
        "region": t.region_code,
        "version": t.version,
        "sha256": t.digest(),
        "issued_at": _iso(t.issued_at),
        "next_update": _iso(t.next_update),
    }


# -- the pinned root key -------------------------------------------------------------------------------------------


def parse_root_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 root public key from base64 DER SPKI, a PEM PUBLIC KEY block, or a file holding either."""
    text = text.strip()
    if len(text) > MAX_ROOT_KEY_TEXT:
        raise UsageError("--root-key is too long to be a public key")
    if "-----BEGIN" not in text and not _looks_base64(text):
        path = Path(text)
        if not path.is_file():
            raise UsageError(f"--root-key {text!r} is neither a base64 key nor a readable file")
        return parse_root_key(path.read_text("ascii", errors="replace")[:MAX_ROOT_KEY_TEXT])
    try:
        key = (
            load_pem_public_key(text.encode("ascii"))
            if "-----BEGIN" in text
            else load_der_public_key(base64.b64decode(text, validate=True))
        )
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise UsageError("--root-key is not a valid public key (base64 DER SubjectPublicKeyInfo or PEM)") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError("--root-key must be an Ed25519 key (trust lists are signed with Ed25519)")
    return key


def _looks_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(text) >= 40  # an Ed25519 SPKI is 44 base64 characters; short strings are file names


def root_key_text(key: Ed25519PublicKey) -> str:
    """The root public key as base64 DER SPKI: what `--root-key` takes and peers pin."""
    return base64.b64encode(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()


# -- the trust list file -------------------------------------------------------------------------------------------


def load_trust_list_file(
    path: Path, root_key: Ed25519PublicKey, now: datetime
) -> tuple[TrustList | None, list[Reason]]:
    """Read and verify a signed trust list file; a stale list is returned together with the stale reason."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TRUST_LIST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read trust list file {path}: {exc.strerror}") from exc
    try:
        signed = parse_signed_trust_list(data)
    except MalformedError as exc:
        return None, [Reason(TRUST_LIST_MALFORMED, str(exc))]
    try:
        doc = verify_trust_list(signed, root_key, now, allow_stale=True)
    except VerificationError as exc:
        code = TRUST_LIST_MALFORMED if "malformed" in str(exc) else TRUST_LIST_SIGNATURE_INVALID
        detail = str(exc)
        if code == TRUST_LIST_SIGNATURE_INVALID:
            detail += f" (pinned root key {b64url_encode(key_id_for(root_key))})"
        return None, [Reason(code, detail)]
    if doc.is_stale_at(now):
        detail = f"trust list stale: next update was due {_iso(doc.next_update)}; fetch a fresh one"
        return doc, [Reason(TokenReason.TRUST_LIST_STALE, detail)]
    return doc, []


# -- the token -----------------------------------------------------------------------------------------------------


def check_token(
    token: str, trust_list: TrustList, now: datetime, recorded_at: datetime | None = None
) -> tuple[list[Reason], LicenceClaims | None, str | None]:
    """Offline checks of one token against a verified trust list: reasons, authentic claims, issuer name."""
    status = validate_token_offline(token, trust_list, now, allow_stale=True, recorded_at=recorded_at)
    reasons = [] if status.reason is None else [Reason(status.reason, status.detail)]
    return reasons, status.claims, status.issuer_name


class LedgerView(Protocol):
    """What online verification asks the licence library: the licence behind an identifier, and its current view."""

    def resolve(self, text: str) -> UUID:
        """The licence id of an identifier (any version's)."""
        ...

    def get(self, licence_id: UUID) -> Any:
        """The current LicenceView."""
        ...


LeafReader = Callable[[int], Mapping[str, Any] | None]  # leaf index -> the leaf's envelope (DESIGN §4), or None


def _minting_leaf(leaf: LeafReader, claims: LicenceClaims, licence_id: UUID) -> Mapping[str, Any] | None:
    """The envelope of leaf `li` if it is a minting event (issued, renewed, amended) of this licence's stream.

    One leaf read, whatever the licence's history: a licence used a million times is checked as fast as a new one."""
    envelope = leaf(claims.leaf_index)
    if envelope is None or envelope.get("stream") != str(licence_id):
        return None
    return envelope if str(envelope.get("type", "")).rpartition(":")[2] in _MINTING_EVENTS else None


def ledger_status(
    licences: LedgerView, leaf: LeafReader, claims: LicenceClaims, not_found: tuple[type[Exception], ...]
) -> tuple[list[Reason], dict[str, Any] | None, datetime | None]:
    """Online: the licence's current status, and when the ledger recorded the minting event the token names."""
    try:
        licence_id = licences.resolve(claims.subject)
        view = licences.get(licence_id)
    except not_found as exc:
        return [Reason(NOT_ON_LEDGER, f"the ledger has no licence {claims.subject}: {exc}")], None, None
    minted = _minting_leaf(leaf, claims, licence_id)
    current = claims.version == view.licence_version
    if minted is None or claims.version > view.licence_version or (current and view.minted_leaf != claims.leaf_index):
        detail = f"leaf {claims.leaf_index} is not the event that minted version {claims.version} of this licence"
        return [Reason(NOT_ON_LEDGER, detail)], _licence_json(view), None
    reasons = []
    if view.lifecycle == REVOKED:
        reasons.append(Reason(REVOKED, "the licence has been revoked"))
    elif view.lifecycle == SUSPENDED:
        reasons.append(Reason(SUSPENDED, "the licence is suspended"))
    if not current:
        detail = f"token shows version {claims.version}; the licence is now at version {view.licence_version}"
        reasons.append(Reason(SUPERSEDED, detail))
    elif str(getattr(view.status, "value", view.status)) == EXPIRED:
        reasons.append(Reason(EXPIRED, "the ledger says the licence has expired"))
    return reasons, _licence_json(view), _parse_recorded_at(str(minted.get("recorded_at", "")))


def _licence_json(view: Any) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "identifier": view.identifier,
        "status": str(getattr(view.status, "value", view.status)),
        "lifecycle": view.lifecycle,
        "licence_version": view.licence_version,
        "valid_until": None if view.valid_until is None else _iso(view.valid_until),
        "leaf_index": view.minted_leaf,
    }


def _parse_recorded_at(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.utcoffset() is not None else parsed.replace(tzinfo=UTC)


def merge(reasons: list[Reason], extra: list[Reason]) -> tuple[Reason, ...]:
    """Reasons in order, each code once."""
    seen: set[str] = set()
    out = []
    for r in [*reasons, *extra]:
        if r.code not in seen:
            seen.add(r.code)
            out.append(r)
    return tuple(out)
