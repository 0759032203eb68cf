"""Offline licence token verification against a trust list: every reason a token is refused, and rotation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from signatures.cose import Ed25519Signer, P256Signer, TokenReason, b64url_encode, sign_token, token_url
from signatures.errors import TokenRejectedError, VerificationError
from signatures.keyring import KeyRecord
from signatures.offline import validate_token_offline, verify_licence_token
from signatures.trustlist import TrustList
from tests.signatures import helpers as h


def reason(token: bytes | str, trust_list: TrustList, now: datetime = h.T0) -> str:
    with pytest.raises(TokenRejectedError) as info:
        verify_licence_token(token, trust_list, now)
    return info.value.reason


def test_valid_ed25519_token(token_a: bytes, trust_list: TrustList) -> None:
    trusted = verify_licence_token(token_a, trust_list, h.T0)
    assert trusted.claims == h.claims()
    assert trusted.issuer.uscc == h.ISSUER_A
    status = validate_token_offline(token_a, trust_list, h.T0)
    assert (status.bottom_line, status.verdict, status.reason) == (True, "valid", None)
    assert status.issuer_name == "河南省市场监督管理局"
    assert status.claims == h.claims()


def test_valid_es256_token(signer_b: P256Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(issuer=h.ISSUER_B, licence_type=h.TYPE_B), signer_b)
    assert verify_licence_token(token, trust_list, h.T0).issuer.uscc == h.ISSUER_B


def test_url_and_bare_forms(token_a: bytes, trust_list: TrustList) -> None:
    assert verify_licence_token(token_url(h.BASE_URL, token_a), trust_list, h.T0).token == token_a
    assert verify_licence_token(b64url_encode(token_a), trust_list, h.T0).token == token_a


def test_malformed_text(trust_list: TrustList) -> None:
    assert reason("https://example/v/!!", trust_list) == TokenReason.MALFORMED
    status = validate_token_offline("garbage!", trust_list, h.T0)
    assert (status.bottom_line, status.reason, status.claims) == (False, TokenReason.MALFORMED, None)


def test_bad_signature(token_a: bytes, trust_list: TrustList) -> None:
    tampered = token_a[:-1] + bytes([token_a[-1] ^ 0x80])
    assert reason(tampered, trust_list) == TokenReason.BAD_SIGNATURE
    status = validate_token_offline(tampered, trust_list, h.T0)
    assert (status.verdict, status.claims, status.issuer_name) == ("invalid", None, None)  # no forged details shown


def test_unknown_key(trust_list: TrustList) -> None:
    token = sign_token(h.claims(), Ed25519Signer(h.ed25519("not in the list")))
    assert reason(token, trust_list) == TokenReason.UNKNOWN_KEY


def test_key_of_another_issuer(signer_a: Ed25519Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(issuer=h.ISSUER_B, licence_type=h.TYPE_B), signer_a)
    assert reason(token, trust_list) == TokenReason.KEY_NOT_ISSUERS


def test_issuer_not_allowed_for_type(signer_a: Ed25519Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(licence_type=h.TYPE_B), signer_a)
    assert reason(token, trust_list) == TokenReason.TYPE_NOT_ALLOWED


def test_other_log(signer_a: Ed25519Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(log_origin="ledger.hb.gov.example/log"), signer_a)
    assert reason(token, trust_list) == TokenReason.OTHER_LOG


@pytest.mark.parametrize("issued_at", [h.KEYS_FROM - h.DAY, h.KEYS_FROM + 400 * h.DAY])
def test_key_used_outside_its_validity(signer_a: Ed25519Signer, issued_at: datetime) -> None:
    doc = h.trust_list(h.issuer_a(not_after=h.KEYS_FROM + 365 * h.DAY))
    token = sign_token(h.claims(issued_at=h.ts(issued_at), not_before=h.ts(issued_at)), signer_a)
    assert reason(token, doc) == TokenReason.KEY_NOT_VALID


def test_compromised_key(signer_a: Ed25519Signer) -> None:
    since = h.T0 - 10 * h.DAY
    doc = h.trust_list(h.issuer_a(compromised_since=since))
    before = sign_token(h.claims(issued_at=h.ts(since) - 1), signer_a)
    at = sign_token(h.claims(issued_at=h.ts(since)), signer_a)
    after = sign_token(h.claims(issued_at=h.ts(since) + 3600), signer_a)
    assert verify_licence_token(before, doc, h.T0).claims.issued_at == h.ts(since) - 1
    assert reason(at, doc) == TokenReason.KEY_COMPROMISED
    with pytest.raises(VerificationError, match="key compromised since 2025-05-22"):
        verify_licence_token(after, doc, h.T0)


def test_rotation_keeps_old_tokens_valid(signer_a: Ed25519Signer) -> None:
    rotated_at = h.T0 - 5 * h.DAY
    new_signer = Ed25519Signer(h.ed25519("issuer-a-2"))
    new_key = KeyRecord.from_public_key(new_signer.private_key.public_key(), h.ISSUER_A, rotated_at)
    old_token = sign_token(h.claims(), signer_a)  # iat = T0 - 30 days, before the rotation
    v1 = h.trust_list(h.issuer_a())
    v2 = h.trust_list(h.issuer_a(new_key, retired_at=rotated_at), previous=v1, issued_at=h.T0)
    assert verify_licence_token(old_token, v2, h.T0).key.kid == signer_a.kid
    assert verify_licence_token(sign_token(h.claims(issued_at=h.ts(h.T0)), new_signer), v2, h.T0).key == new_key
    # The retired key may not sign anything new.
    late = sign_token(h.claims(issued_at=h.ts(rotated_at) + 1), signer_a)
    assert reason(late, v2) == TokenReason.KEY_NOT_VALID


def test_expired_and_not_yet_valid(signer_a: Ed25519Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(expires_at=h.ts(h.T0)), signer_a)
    assert reason(token, trust_list, h.T0) == TokenReason.EXPIRED  # exp is the first instant it is not accepted
    assert verify_licence_token(token, trust_list, h.T0 - timedelta(seconds=1))
    status = validate_token_offline(token, trust_list, h.T0)
    assert (status.bottom_line, status.reason) == (False, TokenReason.EXPIRED)
    assert status.claims is not None  # genuine claims may be shown for an expired licence
    assert status.issuer_name == "河南省市场监督管理局"
    future = sign_token(h.claims(not_before=h.ts(h.T0) + 1), signer_a)
    assert reason(future, trust_list) == TokenReason.NOT_YET_VALID
    assert verify_licence_token(future, trust_list, h.T0 + timedelta(seconds=1))


def test_no_expiry_licence(signer_a: Ed25519Signer, trust_list: TrustList) -> None:
    token = sign_token(h.claims(expires_at=None), signer_a)
    far = datetime(2099, 1, 1, tzinfo=UTC)
    assert verify_licence_token(token, trust_list, far, allow_stale=True).claims.expires_at is None


def test_stale_trust_list(token_a: bytes, trust_list: TrustList) -> None:
    assert reason(token_a, trust_list, trust_list.next_update) == TokenReason.TRUST_LIST_STALE
    assert verify_licence_token(token_a, trust_list, trust_list.next_update, allow_stale=True)
    status = validate_token_offline(token_a, trust_list, trust_list.next_update)
    assert "trust list stale" in status.detail


def test_status_is_frozen(token_a: bytes, trust_list: TrustList) -> None:
    status = validate_token_offline(token_a, trust_list, h.T0)
    with pytest.raises(AttributeError):
        status.bottom_line = False  # type: ignore[misc]
    assert replace(status, bottom_line=False).verdict == "invalid"


def test_online_recorded_time_defeats_a_backdated_iat(signer_a: Ed25519Signer) -> None:
    """A thief of a compromised key can backdate iat; the ledger's time of the minting leaf cannot be backdated."""
    since = h.T0 - 10 * h.DAY
    doc = h.trust_list(h.issuer_a(compromised_since=since))
    backdated = sign_token(h.claims(issued_at=h.ts(since) - 3600), signer_a)
    assert verify_licence_token(backdated, doc, h.T0)  # offline, iat is all there is
    with pytest.raises(TokenRejectedError, match="recorded the minting event") as info:
        verify_licence_token(backdated, doc, h.T0, recorded_at=since + h.DAY)
    assert info.value.reason == TokenReason.KEY_COMPROMISED
    assert verify_licence_token(backdated, doc, h.T0, recorded_at=since - 3600 * timedelta(seconds=1))
    status = validate_token_offline(backdated, doc, h.T0, recorded_at=since)
    assert (status.bottom_line, status.reason) == (False, TokenReason.KEY_COMPROMISED)
