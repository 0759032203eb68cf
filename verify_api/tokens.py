"""Licence tokens at the HTTP edge: parse what a client sent (422 if it is no token) and run the core's online check.

The check itself is `verification.check_token_online` (signature, key lifecycle at `iat` and at the minting leaf's
time, the minting leaf on our log, the licence's status now); the routes only present its `TokenStatus`.
"""

from __future__ import annotations

from signatures.cose import decode_token, parse_token_text
from signatures.errors import MalformedError
from verification import AUTHENTIC, TokenStatus, Verdict, check_token_online
from verify_api.problems import MALFORMED_TOKEN, ProblemError
from verify_api.services import RegionServices

__all__ = ["AUTHENTIC", "TokenStatus", "Verdict", "check_token", "parse_token"]


def parse_token(text: str, field: str = "token") -> bytes:
    """Token bytes from a URL, path or bare token; a 422 `malformed-token` problem naming `field` otherwise."""
    try:
        data = parse_token_text(text)
        decode_token(data)
    except MalformedError as exc:
        raise ProblemError(MALFORMED_TOKEN, f"not a licence token: {exc}", field=field) from exc
    return data


def check_token(region: RegionServices, data: bytes) -> TokenStatus:
    """The core's online check of a parsed token (see `parse_token`) against the region's registry and ledger."""
    return check_token_online(data, region.ledger_sources())
