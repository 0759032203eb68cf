"""Offline verification of a licence QR token against a cached, verified trust list (DESIGN §6).

Offline means: signature, key lifecycle, issuer authorisation and validity period only. Whether the licence was
since suspended or revoked needs the ledger (online); the status says so in its detail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from signatures.cose import (
    LicenceClaims,
    TokenHeader,
    TokenReason,
    decode_token,
    parse_token_text,
    verify_token_signature,
)
from signatures.errors import MalformedError, TokenRejectedError
from signatures.keyring import KeyRecord, key_problem_at_second
from signatures.trustlist import TrustedIssuer, TrustList

# Only after these failures are the claims known to come from a trusted issuer's valid key, so only then may a
# status show them (a citizen must never see details from a forged or compromised-key token).
_CLAIMS_AUTHENTIC = frozenset({TokenReason.EXPIRED, TokenReason.NOT_YET_VALID})


@dataclass(frozen=True)
class TrustedToken:
    """A licence token that passed every offline check, with the issuer and key that vouch for it."""

    header: TokenHeader
    claims: LicenceClaims
    issuer: TrustedIssuer
    key: KeyRecord
    token: bytes


def _reject(reason: TokenReason, detail: str) -> TokenRejectedError:
    return TokenRejectedError(reason, detail)


def _token_bytes(token: bytes | str) -> bytes:
    if isinstance(token, bytes):
        return token
    try:
        return parse_token_text(token)
    except MalformedError as exc:
        raise _reject(TokenReason.MALFORMED, f"malformed token: {exc}") from exc


def _check_key_at(record: KeyRecord, signed_at: int, what: str) -> None:
    problem = key_problem_at_second(record, signed_at)
    if problem == TokenReason.KEY_COMPROMISED:
        since = record.compromised_since.isoformat() if record.compromised_since else "?"
        raise _reject(TokenReason.KEY_COMPROMISED, f"key compromised since {since} ({what} is later)")
    if problem is not None:
        raise _reject(TokenReason.KEY_NOT_VALID, f"key not valid at signing time ({what})")


def _check_period(claims: LicenceClaims, now: datetime) -> None:
    now_s = now.timestamp()
    if now_s < claims.not_before:  # RFC 8392 §3.1.5
        raise _reject(TokenReason.NOT_YET_VALID, "licence not yet valid")
    if claims.expires_at is not None and now_s >= claims.expires_at:  # RFC 8392 §3.1.4
        raise _reject(TokenReason.EXPIRED, "licence expired")


def verify_licence_token(
    token: bytes | str,
    trust_list: TrustList,
    now: datetime,
    *,
    allow_stale: bool = False,
    recorded_at: datetime | None = None,
) -> TrustedToken:
    """Verify a licence token offline (RFC 9052 §4.4, RFC 8392 §3.1); raises TokenRejectedError with a reason code.

    `recorded_at` (online only) is the ledger time of the minting leaf: the key must have been good then too, so a
    holder of a compromised key cannot pass by backdating `iat`.
    """
    # Steps: (1) parse; (2) trust list fresh; (3) signature under the key its kid names; (4) token of this log;
    # (5) key belongs to the claimed issuer; (6) key good at iat; (7) issuer may issue the type; (8) nbf <= now < exp.
    # (1): parse the token (raw bytes, bare base64url or a /v/ URL)
    data = _token_bytes(token)
    # (2): a stale trust list may hide a revoked key or issuer
    if trust_list.is_stale_at(now) and not allow_stale:
        raise _reject(TokenReason.TRUST_LIST_STALE, "trust list stale: refresh it before verifying offline")
    # (3): signature; from here on the claims are authentic
    verified = verify_token_signature(data, trust_list.public_key)
    claims = verified.claims
    # (4): the token names this region's log
    if claims.log_origin != trust_list.log_origin:
        raise _reject(TokenReason.OTHER_LOG, f"token belongs to log {claims.log_origin}, not {trust_list.log_origin}")
    # (5): one issuer's key cannot vouch for another issuer
    found = trust_list.key(verified.header.kid)
    assert found is not None  # step (3) found this kid
    issuer, record = found
    if issuer.uscc != claims.issuer:
        raise _reject(TokenReason.KEY_NOT_ISSUERS, f"key belongs to {issuer.uscc}, not to issuer {claims.issuer}")
    # (6): key lifecycle at signing time
    _check_key_at(record, claims.issued_at, "iat")
    if recorded_at is not None:
        _check_key_at(record, int(recorded_at.timestamp() // 1), "time the ledger recorded the minting event")
    # (7): the issuer is authorised for this licence type
    if claims.licence_type not in issuer.licence_types:
        raise _reject(TokenReason.TYPE_NOT_ALLOWED, f"issuer not allowed for licence type {claims.licence_type}")
    # (8): validity period
    _check_period(claims, now)
    return TrustedToken(header=verified.header, claims=claims, issuer=issuer, key=record, token=data)


@dataclass(frozen=True)
class TokenStatus:
    """Outcome of an offline token check: `bottom_line` True only if every check passed; `detail` says why not."""

    bottom_line: bool
    reason: TokenReason | None  # None when valid
    detail: str
    claims: LicenceClaims | None = None  # set when valid, expired or not yet valid (claims proven authentic)
    issuer_name: str | None = None

    @property
    def verdict(self) -> str:
        """ "valid" or "invalid", for printing."""
        return "valid" if self.bottom_line else "invalid"


def validate_token_offline(
    token: bytes | str,
    trust_list: TrustList,
    now: datetime,
    *,
    allow_stale: bool = False,
    recorded_at: datetime | None = None,
) -> TokenStatus:
    """`verify_licence_token` as a frozen status for the CLI and the public page (pyHanko-style validation)."""
    try:
        trusted = verify_licence_token(token, trust_list, now, allow_stale=allow_stale, recorded_at=recorded_at)
    except TokenRejectedError as exc:
        reason = TokenReason(exc.reason)
        if reason not in _CLAIMS_AUTHENTIC:
            return TokenStatus(False, reason, str(exc))
        # Signature, issuer, key and type checks all passed before the period check failed: the claims are genuine.
        _, claims = decode_token(_token_bytes(token))
        issuer = trust_list.issuer(claims.issuer)
        return TokenStatus(False, reason, str(exc), claims, issuer.name if issuer else None)
    detail = "valid offline (signature, key, issuer, period); suspension or revocation needs the online check"
    return TokenStatus(True, None, detail, trusted.claims, trusted.issuer.name)
