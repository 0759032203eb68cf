"""COSE_Sign1 licence tokens (RFC 9052 §4.2, RFC 8392): round trips, independent structure checks, every rejection."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from signatures.cose import (
    ALG_EDDSA,
    ALG_ES256,
    MAX_TOKEN_BYTES,
    Ed25519Signer,
    LicenceClaims,
    P256Signer,
    PublicKey,
    TokenReason,
    b64url_decode,
    b64url_encode,
    decode_token,
    key_id_for,
    parse_token_text,
    sig_structure,
    sign_token,
    signer_for,
    token_url,
    verify_token_signature,
)
from signatures.errors import MalformedError, TokenRejectedError, VerificationError
from tests.signatures import helpers as h


def lookup_for(key: PublicKey) -> Any:
    return lambda kid: key if kid == key_id_for(key) else None


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    return data[:index] + bytes([data[index] ^ mask]) + data[index + 1 :]


def forge(protected: Any, unprotected: Any, payload_map: Any, signer: Ed25519Signer, tag: int = 18) -> bytes:
    """A token with a VALID signature over arbitrary structure: rejections below are structural, not cryptographic."""
    prot = protected if isinstance(protected, bytes) else cbor2.dumps(protected, canonical=True)
    payload = payload_map if isinstance(payload_map, bytes) else cbor2.dumps(payload_map, canonical=True)
    sig = signer.sign(sig_structure(prot, payload))
    return cbor2.dumps(cbor2.CBORTag(tag, [prot, unprotected, payload, sig]), canonical=True)


def good_header(signer: Ed25519Signer) -> dict[int, Any]:
    return {1: ALG_EDDSA, 4: signer.kid}


# --- round trips ---------------------------------------------------------------------------------------------------


def test_round_trip_ed25519(signer_a: Ed25519Signer) -> None:
    token = sign_token(h.claims(), signer_a)
    header, claims = decode_token(token)
    assert (header.alg, header.kid, claims) == (ALG_EDDSA, signer_a.kid, h.claims())
    verified = verify_token_signature(token, lookup_for(signer_a.private_key.public_key()))
    assert verified.claims == h.claims()
    assert verified.token == token


def test_round_trip_es256(signer_b: P256Signer) -> None:
    claims = h.claims(issuer=h.ISSUER_B, licence_type=h.TYPE_B)
    token = sign_token(claims, signer_b)
    verified = verify_token_signature(token, lookup_for(signer_b.private_key.public_key()))
    assert (verified.header.alg, verified.claims) == (ALG_ES256, claims)


def test_round_trip_without_expiry(signer_a: Ed25519Signer) -> None:
    token = sign_token(h.claims(expires_at=None), signer_a)
    payload = cbor2.loads(cbor2.loads(token).value[2])
    assert 4 not in payload
    assert decode_token(token)[1].expires_at is None


def test_signing_is_deterministic_for_ed25519(signer_a: Ed25519Signer) -> None:
    assert sign_token(h.claims(), signer_a) == sign_token(h.claims(), signer_a)


def test_signer_for_picks_the_algorithm() -> None:
    assert signer_for(h.ed25519("x")).alg == ALG_EDDSA
    assert signer_for(h.p256("x")).alg == ALG_ES256


def test_p256_signer_refuses_other_curves() -> None:
    with pytest.raises(MalformedError):
        P256Signer(ec.derive_private_key(12345, ec.SECP384R1()))


# --- RFC 9052 structure, decoded independently ----------------------------------------------------------------------


def test_structure_is_rfc9052_cose_sign1(token_a: bytes, signer_a: Ed25519Signer) -> None:
    outer = cbor2.loads(token_a)
    assert isinstance(outer, cbor2.CBORTag)
    assert outer.tag == 18
    assert len(outer.value) == 4
    protected, unprotected, payload, signature = outer.value
    assert isinstance(protected, bytes)
    assert cbor2.loads(protected) == {1: -8, 4: signer_a.kid}
    assert dict(unprotected) == {}
    assert len(signature) == 64
    claims = cbor2.loads(payload)
    assert claims[1] == h.ISSUER_A
    assert claims[2] == h.IDENTIFIER
    assert {4, 5, 6} <= set(claims)
    assert (claims["typ"], claims["ver"], claims["li"], claims["rg"]) == (h.TYPE_A, 1, 123_456, h.ORIGIN)
    assert len(claims["hd"]) == 16
    # The signature is plain Ed25519 over Sig_structure = ["Signature1", protected, h'', payload] (RFC 9052 §4.4).
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    signer_a.private_key.public_key().verify(signature, to_be_signed)


def test_es256_signature_is_raw_r_s(signer_b: P256Signer) -> None:
    token = sign_token(h.claims(issuer=h.ISSUER_B, licence_type=h.TYPE_B), signer_b)
    protected, _, payload, signature = cbor2.loads(token).value
    assert cbor2.loads(protected)[1] == -7
    assert len(signature) == 64
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    signer_b.private_key.public_key().verify(
        der, cbor2.dumps(["Signature1", protected, b"", payload]), ec.ECDSA(hashes.SHA256())
    )


def test_kid_is_sha256_of_spki_truncated(signer_a: Ed25519Signer) -> None:
    spki = signer_a.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert signer_a.kid == hashlib.sha256(spki).digest()[:8]


def test_typical_token_size(token_a: bytes) -> None:
    # DESIGN §6 fixes the claim set; with a 73-character identifier it comes to about 290 bytes.
    assert 250 < len(token_a) < 320


# --- rejections: tampering, keys ------------------------------------------------------------------------------------


def _reason(token: bytes, key: PublicKey) -> str:
    with pytest.raises(TokenRejectedError) as info:
        verify_token_signature(token, lookup_for(key))
    return info.value.reason


def test_flipped_byte_in_signature_is_rejected(token_a: bytes, signer_a: Ed25519Signer) -> None:
    assert _reason(flip(token_a, len(token_a) - 1), signer_a.private_key.public_key()) == TokenReason.BAD_SIGNATURE


def test_flipped_byte_in_payload_is_rejected(token_a: bytes, signer_a: Ed25519Signer) -> None:
    index = token_a.index(h.IDENTIFIER.encode()) + 20  # inside the licence identifier
    assert _reason(flip(token_a, index), signer_a.private_key.public_key()) == TokenReason.BAD_SIGNATURE


def test_flipped_byte_in_protected_header_is_rejected(token_a: bytes, signer_a: Ed25519Signer) -> None:
    index = token_a.index(signer_a.kid) + 3  # the kid inside the protected header
    assert _reason(flip(token_a, index), signer_a.private_key.public_key()) == TokenReason.UNKNOWN_KEY
    key = signer_a.private_key.public_key()
    alg_index = token_a.index(bytes([0x01, 0x27])) + 1  # 1: -8
    assert _reason(flip(token_a, alg_index, 0x01), key) == TokenReason.BAD_SIGNATURE  # -7: ES256 with an Ed25519 key
    assert _reason(flip(token_a, alg_index, 0x02), key) == TokenReason.MALFORMED  # -6: no such algorithm here


def test_wrong_key_is_rejected(token_a: bytes, signer_a: Ed25519Signer) -> None:
    other = h.ed25519("somebody else").public_key()
    with pytest.raises(TokenRejectedError) as info:
        verify_token_signature(token_a, lambda kid: other)
    assert info.value.reason == TokenReason.BAD_SIGNATURE


def test_key_of_other_algorithm_is_rejected(token_a: bytes) -> None:
    p256_key = h.p256("x").public_key()
    with pytest.raises(TokenRejectedError, match="algorithm") as info:
        verify_token_signature(token_a, lambda kid: p256_key)
    assert info.value.reason == TokenReason.BAD_SIGNATURE


def test_unknown_kid_is_rejected(token_a: bytes) -> None:
    with pytest.raises(TokenRejectedError, match="unknown key id") as info:
        verify_token_signature(token_a, lambda kid: None)
    assert info.value.reason == TokenReason.UNKNOWN_KEY


def test_rejection_is_a_verification_error(token_a: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_token_signature(token_a, lambda kid: None)


# --- rejections: strict parsing -------------------------------------------------------------------------------------


def _claims_map(**changes: Any) -> dict[Any, Any]:
    base: dict[Any, Any] = h.claims().to_cbor_map()
    for key, value in changes.items():
        label: Any = {"iss": 1, "sub": 2, "exp": 4, "nbf": 5, "iat": 6}.get(key, key)
        if value is ...:
            del base[label]
        else:
            base[label] = value
    return base


SIG0 = b"\0" * 64


def _true_for_one(claims: dict[Any, Any]) -> dict[Any, Any]:
    return {True if k == 1 else k: v for k, v in claims.items()}


@pytest.mark.parametrize(
    ("what", "build"),
    [
        ("untagged", lambda s: cbor2.dumps(cbor2.loads(forge(good_header(s), {}, _claims_map(), s)).value)),
        ("wrong tag", lambda s: forge(good_header(s), {}, _claims_map(), s, tag=17)),
        ("unprotected not empty", lambda s: forge(good_header(s), {4: s.kid}, _claims_map(), s)),
        ("crit in protected", lambda s: forge(good_header(s) | {2: [4]}, {}, _claims_map(), s)),
        ("content type in protected", lambda s: forge(good_header(s) | {3: 61}, {}, _claims_map(), s)),
        ("unknown alg", lambda s: forge({1: -35, 4: s.kid}, {}, _claims_map(), s)),
        ("short kid", lambda s: forge({1: -8, 4: s.kid[:4]}, {}, _claims_map(), s)),
        ("kid as text", lambda s: forge({1: -8, 4: s.kid.hex()}, {}, _claims_map(), s)),
        ("alg true, not -8", lambda s: forge({True: -8, 4: s.kid}, {}, _claims_map(), s)),
        ("unknown claim", lambda s: forge(good_header(s), {}, _claims_map(name="张三"), s)),
        ("missing iss", lambda s: forge(good_header(s), {}, _claims_map(iss=...), s)),
        ("missing rg", lambda s: forge(good_header(s), {}, _claims_map(rg=...), s)),
        ("exp null", lambda s: forge(good_header(s), {}, _claims_map(exp=None), s)),
        ("ver as bool", lambda s: forge(good_header(s), {}, _claims_map(ver=True), s)),
        ("ver as float", lambda s: forge(good_header(s), {}, _claims_map(ver=1.0), s)),
        ("negative li", lambda s: forge(good_header(s), {}, _claims_map(li=-1), s)),
        ("bignum iat", lambda s: forge(good_header(s), {}, _claims_map(iat=2**70), s)),
        ("hd 15 bytes", lambda s: forge(good_header(s), {}, _claims_map(hd=b"\x00" * 15), s)),
        ("hd as text", lambda s: forge(good_header(s), {}, _claims_map(hd="0" * 16), s)),
        ("iss not a USCC", lambda s: forge(good_header(s), {}, _claims_map(iss="张三"), s)),
        ("exp before nbf", lambda s: forge(good_header(s), {}, _claims_map(exp=1), s)),
        ("payload not a map", lambda s: forge(good_header(s), {}, [1, 2], s)),
        (
            "true as claim key",
            lambda s: forge(good_header(s), {}, {True if k == 1 else k: v for k, v in _claims_map().items()}, s),
        ),
        (
            "detached payload",
            lambda s: cbor2.dumps(cbor2.CBORTag(18, [cbor2.dumps(good_header(s)), {}, None, b"\0" * 64])),
        ),
        (
            "short signature",
            lambda s: forge(good_header(s), {}, _claims_map(), s)[: -64 - 2] + b"\x58\x3f" + b"\0" * 63,
        ),
    ],
)
def test_structural_rejections(what: str, build: Any, signer_a: Ed25519Signer) -> None:
    token = build(signer_a)
    with pytest.raises(MalformedError):
        decode_token(token)
    assert _reason(token, signer_a.private_key.public_key()) == TokenReason.MALFORMED


def test_non_canonical_cbor_is_rejected(token_a: bytes) -> None:
    outer = cbor2.loads(token_a)
    # The same token re-encoded with a non-minimal length for the signature byte string (0x59 0x00 0x40).
    prot, _, payload, sig = outer.value
    body = b"\xd2\x84" + cbor2.dumps(prot) + b"\xa0" + cbor2.dumps(payload) + b"\x59\x00\x40" + sig
    with pytest.raises(MalformedError, match="deterministic"):
        decode_token(body)


def test_indefinite_length_is_rejected(token_a: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_token(b"\xd2\x9f" + token_a[2:] + b"\xff")


def test_trailing_bytes_are_rejected(token_a: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_token(token_a + b"\x00")


def test_duplicate_map_keys_are_rejected(signer_a: Ed25519Signer) -> None:
    payload = cbor2.dumps(h.claims().to_cbor_map(), canonical=True)
    duplicated = bytes([payload[0] + 1]) + payload[1:] + b"\x01\x62ab"  # a second key 1 at the end
    with pytest.raises(MalformedError):
        decode_token(forge(good_header(signer_a), {}, duplicated, signer_a))


def test_oversized_token_is_rejected(token_a: bytes) -> None:
    with pytest.raises(MalformedError, match="longer"):
        decode_token(token_a + b"\x00" * MAX_TOKEN_BYTES)


@pytest.mark.parametrize("junk", [b"", b"\xff", b"\xd2", b"\xd2\x84", b"hello", "not bytes"])
def test_garbage_is_malformed(junk: Any) -> None:
    with pytest.raises(MalformedError):
        decode_token(junk)


def test_claims_are_validated_on_construction() -> None:
    with pytest.raises(MalformedError):
        replace(h.claims(), issuer="11430000006122244")  # 17 characters
    with pytest.raises(MalformedError):
        replace(h.claims(), version=True)
    with pytest.raises(MalformedError):
        replace(h.claims(), holder_digest=b"\x00" * 32)
    with pytest.raises(MalformedError):
        LicenceClaims.from_cbor_map({})


def test_sign_refuses_a_bad_signer(signer_a: Ed25519Signer) -> None:
    class Short:
        kid = signer_a.kid
        alg = ALG_EDDSA

        def sign(self, data: bytes) -> bytes:
            return b"\x00" * 10

    with pytest.raises(MalformedError):
        sign_token(h.claims(), Short())


# --- base64url and URLs ---------------------------------------------------------------------------------------------


def test_b64url_round_trip_without_padding(token_a: bytes) -> None:
    text = b64url_encode(token_a)
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert b64url_decode(text) == token_a


@pytest.mark.parametrize("bad", ["AA==", "A+B/", "A", "AB!C", "AB", "AAB"])
def test_b64url_is_strict(bad: str) -> None:
    # "AB" and "AAB" carry non-zero trailing bits: another spelling of the same bytes would be malleable.
    if bad in {"AB", "AAB"}:
        assert b64url_encode(b64url_decode(bad[:-1] + "A")) == bad[:-1] + "A"
    with pytest.raises(MalformedError):
        b64url_decode(bad)


def test_b64url_size_cap() -> None:
    with pytest.raises(MalformedError):
        b64url_decode("A" * 2000)


def test_token_url_and_parse(token_a: bytes) -> None:
    url = token_url(h.BASE_URL + "/", token_a)
    assert url == f"{h.BASE_URL}/v/{b64url_encode(token_a)}"
    assert parse_token_text(url) == token_a
    assert parse_token_text(f"  {url}?lang=en#top\n") == token_a
    assert parse_token_text(f"/v/{b64url_encode(token_a)}") == token_a
    assert parse_token_text(b64url_encode(token_a)) == token_a


@pytest.mark.parametrize(
    "bad",
    ["ftp://example/v/AAAA", "https://example/x/AAAA", "https://example/v/", "https://example/v/AA==", "A" * 5000],
)
def test_parse_token_text_rejects(bad: str) -> None:
    with pytest.raises(MalformedError):
        parse_token_text(bad)


def _reordered(mapping: dict[Any, Any], first: Any) -> bytes:
    """`mapping` encoded with plain cbor2 (insertion order kept), `first` moved to the front."""
    return bytes(cbor2.dumps({first: mapping[first]} | {k: v for k, v in mapping.items() if k != first}))


def _plain_claims() -> dict[Any, Any]:
    ordered = cbor2.loads(cbor2.dumps(h.claims().to_cbor_map(), canonical=True))
    assert isinstance(ordered, dict)
    return ordered


@pytest.mark.parametrize(
    ("what", "protected", "payload"),
    [
        ("claims keys out of order", None, lambda: _reordered(_plain_claims(), "ver")),
        ("header keys out of order", lambda s: _reordered(good_header(s), 4), None),
        # ver = 1 written with a 4-byte head (0x1a 00000001) where one byte (0x01) is the deterministic form
        (
            "non-minimal integer",
            None,
            lambda: cbor2.dumps(_plain_claims()).replace(b"\x63ver\x01", b"\x63ver\x1a\0\0\0\x01"),
        ),
        # "typ" as a text string with a 1-byte length head (0x78 15) although 21 < 24 fits the initial byte (0x75)
        (
            "non-minimal text head",
            None,
            lambda: cbor2.dumps(_plain_claims()).replace(b"\x63typ\x75", b"\x63typ\x78\x15"),
        ),
    ],
)
def test_non_deterministic_maps_are_rejected(what: str, protected: Any, payload: Any, signer_a: Ed25519Signer) -> None:
    """The decoder's fast path (keys in order + plain re-encoding) must refuse exactly what the canonical check does."""
    prot = protected(signer_a) if protected else cbor2.dumps(good_header(signer_a), canonical=True)
    body = payload() if payload else cbor2.dumps(h.claims().to_cbor_map(), canonical=True)
    forged = prot if protected else body
    assert forged != cbor2.dumps(cbor2.loads(forged), canonical=True), what  # the forged part really is non-canonical
    with pytest.raises(MalformedError, match="deterministic"):
        decode_token(forge(prot, {}, body, signer_a))
