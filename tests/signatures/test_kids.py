"""The one external text form of a key id (base64url, formats.md §3.1) and its parser, which also takes hex."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from signatures.cose import b64url_encode, key_id_for
from signatures.errors import MalformedError
from signatures.kids import KID_TEXT_LENGTH, kid_text, parse_kid

KID = bytes.fromhex("4bc55c665ec0fa88")  # formats.md's example, `S8VcZl7A-og`


def test_kid_text_is_the_trust_list_form() -> None:
    assert kid_text(KID) == "S8VcZl7A-og" == b64url_encode(KID)
    assert len(kid_text(KID)) == KID_TEXT_LENGTH


@pytest.mark.parametrize("text", ["S8VcZl7A-og", " S8VcZl7A-og\n", "4bc55c665ec0fa88", "4BC55C665EC0FA88"])
def test_parse_kid_takes_base64url_and_hex(text: str) -> None:
    assert parse_kid(text) == KID


def test_round_trip_of_a_real_key() -> None:
    kid = key_id_for(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key())
    assert parse_kid(kid_text(kid)) == kid == parse_kid(kid.hex())


@pytest.mark.parametrize(
    "text",
    [
        "",
        "S8VcZl7A-og=",
        "S8VcZl7A-oh",
        "S8VcZl7A+og",
        "S8VcZl7A-o",
        "4bc55c665ec0fa8",
        "4bc55c665ec0fa88aa",
        "x" * 10_000,
    ],
)
def test_parse_kid_refuses_anything_else(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_kid(text)


def test_kid_text_refuses_a_wrong_length() -> None:
    with pytest.raises(MalformedError):
        kid_text(b"\x00" * 7)
