"""Laws: any single flipped bit in a token fails verification; any byte string parses or raises MalformedError."""

from __future__ import annotations

import contextlib

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signatures.cose import (
    COSE_SIGN1_TAG,
    Ed25519Signer,
    b64url_decode,
    b64url_encode,
    decode_token,
    encode_sign1,
    key_id_for,
    sig_structure,
    sign_token,
    verify_token_signature,
)
from signatures.errors import MalformedError, TokenRejectedError
from signatures.offline import verify_licence_token
from signatures.trustlist import TrustList
from tests.signatures import helpers as h

_SIGNER = Ed25519Signer(h.ed25519("issuer-a-1"))
_KEY = _SIGNER.private_key.public_key()
TOKEN = sign_token(h.claims(), _SIGNER)


def flip_bit(data: bytes, bit: int) -> bytes:
    index, shift = divmod(bit, 8)
    return data[:index] + bytes([data[index] ^ (1 << shift)]) + data[index + 1 :]


@settings(max_examples=500, deadline=None)
@given(bit=st.integers(min_value=0, max_value=8 * len(TOKEN) - 1))
def test_any_flipped_bit_fails(bit: int, trust_list: TrustList) -> None:
    tampered = flip_bit(TOKEN, bit)
    with pytest.raises(TokenRejectedError):
        verify_licence_token(tampered, trust_list, h.T0)
    with pytest.raises(TokenRejectedError):
        verify_token_signature(tampered, lambda kid: _KEY if kid == key_id_for(_KEY) else None)


def test_every_flipped_bit_fails_exhaustively(trust_list: TrustList) -> None:
    assert verify_licence_token(TOKEN, trust_list, h.T0)
    for bit in range(8 * len(TOKEN)):
        with pytest.raises(TokenRejectedError):
            verify_licence_token(flip_bit(TOKEN, bit), trust_list, h.T0)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_parse_or_are_malformed(data: bytes) -> None:
    with contextlib.suppress(MalformedError):  # anything else escaping would fail the test
        decode_token(data)


@given(data=st.binary(max_size=600))
def test_b64url_round_trip(data: bytes) -> None:
    assert b64url_decode(b64url_encode(data)) == data


@settings(max_examples=300, deadline=None)
@given(protected=st.binary(max_size=300), payload=st.binary(max_size=65_535), signature=st.binary(max_size=300))
def test_hand_written_cbor_equals_cbor2_canonical(protected: bytes, payload: bytes, signature: bytes) -> None:
    """sig_structure and the token envelope are written by hand for speed; they must be cbor2's canonical bytes."""
    assert sig_structure(protected, payload) == cbor2.dumps(["Signature1", protected, b"", payload], canonical=True)
    expected = cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected, {}, payload, signature]), canonical=True)
    assert encode_sign1(protected, payload, signature) == expected


@pytest.mark.parametrize("length", [0, 23, 24, 255, 256, 65535])
def test_hand_written_cbor_at_length_boundaries(length: int) -> None:
    data = b"x" * length
    assert sig_structure(data, data) == cbor2.dumps(["Signature1", data, b"", data], canonical=True)
