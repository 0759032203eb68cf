"""`trustledger verify` as the CLI presents it, and the wiring of the verification core to an opened region.

The checks themselves live in `verification/` (offline: the token under a signed trust list; online: the token
against the ledger); this module reads the files the CLI is handed (trust list, root key), hands the core the
region's services (`ledger_sources`), and turns the core's `TokenStatus` into the `--json` document and the text
report. Exit codes and the JSON shape are documented in docs/trust.md, the reason codes in docs/verification.md.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_der_public_key,
    load_pem_public_key,
)

from clock import iso_utc
from signatures.cose import LicenceClaims
from signatures.trustlist import MAX_TRUST_LIST_BYTES, TrustList
from verification import Reason, TokenStatus, open_trust_list

if TYPE_CHECKING:
    from licences.application import LicenceView
    from trustledger.region_core import RegionCore
    from verification.online import LedgerSources

MAX_ROOT_KEY_TEXT = 4096
__all__ = [
    "Reason",
    "UsageError",
    "VerifyReport",
    "claims_json",
    "ledger_sources",
    "licence_json",
    "load_trust_list_file",
    "parse_root_key",
    "root_key_text",
    "trust_list_json",
]


def ledger_sources(region: RegionCore) -> LedgerSources:
    """The services the online token check reads, taken from an opened region (the API and the CLI both use it)."""
    from verification.online import LedgerSources  # the online check's stack: `verify --offline` never loads it

    return LedgerSources(
        origin=region.config.origin,
        licences=region.licences,
        keys=region.registry,
        log=region.log,
        clock=region.clock,
        statuses=region.log,
        log_verifier=region.log_signer.verifier,
    )


class UsageError(Exception):
    """The command was called wrongly (exit 2): a missing file, an unusable root key, a missing option."""


@dataclass(frozen=True)
class VerifyReport:
    """What `trustledger verify` prints for a token: the core's status, plus the trust list it was shown with.

    The JSON keeps the shape of the first release: `verdict` is the bottom line ("valid" or "invalid") and `reasons`
    lists every reason in check order; the core's verdict (e.g. "revoked") heads the text form (docs/verification.md).
    """

    status: TokenStatus
    source: dict[str, Any] | None = None  # a peer's token: whose ledger, as `POST /v1/verify/token` names it

    @property
    def valid(self) -> bool:
        """True only if every check passed."""
        return self.status.bottom_line

    def _source(self) -> dict[str, Any]:
        if self.source is not None:
            return self.source
        reasons = [{"code": r.code, "detail": r.detail} for r in self.status.reasons]
        return {"region": "local", "peer_url": None, "cross_region_verdict": None, "reasons": reasons}

    def to_json(self) -> dict[str, Any]:
        """The `--json` document."""
        s = self.status
        doc: dict[str, Any] = {
            "verdict": "valid" if self.valid else "invalid",
            "valid": self.valid,
            "mode": s.mode,
            "checked_at": iso_utc(s.checked_at),
            "reasons": [r.to_json() for r in s.reasons],
            "token": None if s.claims is None else claims_json(s.claims),
            "issuer_name": s.issuer_name if s.claims is not None else None,
            "trust_list": None if s.trust_list is None else trust_list_json(s.trust_list),
            "source": self._source(),
        }
        if s.mode in ("online", "cross-region"):  # a peer discloses no licence view: the key is there, empty
            doc["licence"] = None if s.licence is None else licence_json(s.licence)
        return doc

    def text(self) -> str:
        """The human form: verdict line, reasons, then what the token says (if authentic)."""
        s = self.status
        lines = ["VALID" if self.valid else f"NOT VALID ({s.verdict.value})"]
        lines += [f"  reason: {r.title} ({r.code}): {r.detail}" for r in s.reasons]
        if s.claims is not None:
            c = s.claims
            lines.append(f"  licence: {c.subject} (version {c.version}, type {c.licence_type})")
            lines.append(f"  issuer: {s.issuer_name or '?'} ({c.issuer})")
            until = "no expiry" if c.expires_at is None else iso_utc(_from_ts(c.expires_at))
            lines.append(f"  valid: {iso_utc(_from_ts(c.not_before))} .. {until}")
        if s.licence is not None:
            lines.append(f"  ledger: {s.licence.status.value}, current version {s.licence.licence_version}")
        if s.trust_list is not None:
            t = s.trust_list
            lines.append(f"  trust list: {t.region_name} version {t.version}, next update {iso_utc(t.next_update)}")
        if self.source is not None:
            where = f"{self.source['region']}, through federation ({self.source['cross_region_verdict']})"
            lines.append(f"  source: {where}")
        if s.mode == "offline" and self.valid:
            lines.append("  (offline: suspension or revocation after the trust list was issued needs the online check)")
        return "\n".join(lines) + "\n"


def _from_ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def claims_json(c: LicenceClaims) -> dict[str, Any]:
    """The token's claims by name (the holder digest as hex)."""
    return {
        "iss": c.issuer,
        "sub": c.subject,
        "iat": iso_utc(_from_ts(c.issued_at)),
        "nbf": iso_utc(_from_ts(c.not_before)),
        "exp": None if c.expires_at is None else iso_utc(_from_ts(c.expires_at)),
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
        "issued_at": iso_utc(t.issued_at),
        "next_update": iso_utc(t.next_update),
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
    """Read a signed trust list file and verify it (`verification.open_trust_list`); a stale list is returned
    together with the stale reason. An unreadable file is a usage error."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_TRUST_LIST_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read trust list file {path}: {exc.strerror}") from exc
    doc, reasons = open_trust_list(data, root_key, now)
    return doc, list(reasons)


def licence_json(view: LicenceView) -> dict[str, Any]:
    """The ledger's current view of the licence, as `trustledger verify --json` shows it online."""
    return {
        "id": str(view.id),
        "identifier": view.identifier,
        "status": view.status.value,
        "lifecycle": view.lifecycle,
        "licence_version": view.licence_version,
        "valid_until": None if view.valid_until is None else iso_utc(view.valid_until),
        "leaf_index": view.minted_leaf,
    }
