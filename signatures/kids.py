"""Key ids as people and programs see them: one external text form, base64url, as the trust list publishes it.

A kid is 8 bytes (formats.md §3.1). Its published text form is unpadded base64url (formats.md §2, §4: `S8VcZl7A-og`),
so every surface a person or a client reads — CLI output, API answers, error messages, logs — shows `kid_text(kid)`.
Input accepts that form and, for compatibility with what earlier versions printed, 16 lowercase or uppercase hex
digits; `parse_kid` is the one parser. (The registry tables keep hex: a storage format, not shown.)
"""

from __future__ import annotations

import re

from signatures.cose import KID_BYTES, b64url_decode, b64url_encode
from signatures.errors import MalformedError

__all__ = ["KID_TEXT_LENGTH", "kid_text", "parse_kid"]

KID_TEXT_LENGTH = 11  # unpadded base64url of 8 bytes
_HEX = re.compile(r"[0-9a-fA-F]{16}")
_MAX_INPUT = 64


def kid_text(kid: bytes) -> str:
    """The external text form of a key id: unpadded base64url of its 8 bytes (e.g. `S8VcZl7A-og`)."""
    if len(kid) != KID_BYTES:
        raise MalformedError(f"a key id is {KID_BYTES} bytes, not {len(kid)}")
    return b64url_encode(kid)


def parse_kid(text: str) -> bytes:
    """The 8 bytes of a key id written as 11 base64url characters or (older output) 16 hex digits.

    Surrounding whitespace is ignored; anything else not in either form raises `MalformedError`. The two forms cannot
    be confused: they differ in length."""
    value = text.strip() if len(text) <= _MAX_INPUT else text
    if _HEX.fullmatch(value):
        return bytes.fromhex(value)
    if len(value) == KID_TEXT_LENGTH:
        try:
            return b64url_decode(value, KID_BYTES)
        except MalformedError:
            pass
    raise MalformedError(f"a key id is {KID_TEXT_LENGTH} base64url characters (or 16 hex digits), not {text[:40]!r}")
