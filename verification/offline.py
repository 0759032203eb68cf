"""The offline check of a licence QR token against a signed trust list (DESIGN §6): no database, no network.

Offline means signature, key lifecycle at `iat`, issuer authorisation and validity period only (the token itself is
checked by `signatures.offline.validate_token_offline`). Whether the licence was since suspended, revoked or
superseded needs the ledger (online). The trust list is first verified against the pinned root key; a stale list is
reported, and the token is still checked under it so that every problem is listed.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from clock import iso_utc
from signatures.cose import b64url_encode, decode_token, key_id_for, parse_token_text
from signatures.errors import MalformedError, VerificationError
from signatures.offline import validate_token_offline
from signatures.trustlist import TrustList, parse_signed_trust_list, verify_trust_list
from verification.status import Code, Reason, TokenStatus, merge_reasons


def open_trust_list(
    data: bytes, root_key: Ed25519PublicKey, now: datetime
) -> tuple[TrustList | None, tuple[Reason, ...]]:
    """Verify a signed trust list document against the pinned root key.

    Returns the list and its problems: none; `trust_list_stale` (the list is still returned, so the token checks
    run too); or `trust_list_malformed` / `trust_list_signature_invalid` (no list: nothing can be checked under it).
    """
    try:
        signed = parse_signed_trust_list(data)
    except MalformedError as exc:
        return None, (Reason(Code.TRUST_LIST_MALFORMED, str(exc)),)
    try:
        doc = verify_trust_list(signed, root_key, now, allow_stale=True)
    except VerificationError as exc:
        if "malformed" in str(exc):
            return None, (Reason(Code.TRUST_LIST_MALFORMED, str(exc)),)
        detail = f"{exc} (pinned root key {b64url_encode(key_id_for(root_key))})"
        return None, (Reason(Code.TRUST_LIST_SIGNATURE_INVALID, detail),)
    if doc.is_stale_at(now):
        detail = f"trust list stale: next update was due {iso_utc(doc.next_update)}; fetch a fresh one"
        return doc, (Reason(Code.TRUST_LIST_STALE, detail),)
    return doc, ()


def check_token_offline(
    token: bytes | str,
    trust_list: TrustList,
    now: datetime,
    *,
    list_reasons: tuple[Reason, ...] = (),
    recorded_at: datetime | None = None,
) -> TokenStatus:
    """Check a token under a verified trust list at `now`; `list_reasons` are the list's own problems (see
    `open_trust_list`), listed first. `recorded_at` (online only) is when the ledger recorded the minting event:
    the key must have been good then too."""
    # Steps: (1) strict parse; (2) a token of this trust list's log (another region's is not ours to judge, and its
    # claims are not shown); (3) signature, issuer's key, key good at iat, type allowed, period
    # (`validate_token_offline`, which keeps the claims only once they are proven authentic).
    try:
        data = token if isinstance(token, bytes) else parse_token_text(token)
        _, claims = decode_token(data)
    except MalformedError as exc:
        malformed = Reason(Code.MALFORMED, f"malformed token: {exc}")
        return TokenStatus("offline", now, merge_reasons(list_reasons, [malformed]), trust_list=trust_list)
    if claims.log_origin != trust_list.log_origin:
        other = Reason(Code.OTHER_LOG, "minted on another region's log; verify it there")
        return TokenStatus("offline", now, merge_reasons(list_reasons, [other]), trust_list=trust_list)
    found = validate_token_offline(data, trust_list, now, allow_stale=True, recorded_at=recorded_at)
    own = [] if found.reason is None else [Reason(str(found.reason), found.detail)]
    authentic = found.claims is not None
    return TokenStatus(
        "offline",
        now,
        merge_reasons(list_reasons, own),
        claims=found.claims,
        token=data if authentic else b"",
        issuer_name=found.issuer_name,
        trust_list=trust_list,
    )
