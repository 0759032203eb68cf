"""A peer's status answer is parsed strictly: exact keys, its own origin, a known verdict, sane codes and versions."""

from __future__ import annotations

import json

import pytest

from anchors.errors import PeerError
from anchors.peers import parse_peer_status

ORIGIN = "ledger.ha.gov.example/log"
GOOD = {"origin": ORIGIN, "verdict": "revoked", "reason_code": "revoked", "current_version": 2}


def test_a_good_answer_parses() -> None:
    status = parse_peer_status(json.dumps(GOOD).encode(), ORIGIN)
    assert (status.verdict, status.current_version, status.in_force) == ("revoked", 2, False)
    assert parse_peer_status(json.dumps(GOOD | {"verdict": "valid"}).encode(), ORIGIN).in_force


@pytest.mark.parametrize(
    "doc",
    [
        GOOD | {"origin": "ledger.js.gov.example/log"},
        GOOD | {"verdict": "fine"},
        GOOD | {"reason_code": "<script>"},
        GOOD | {"current_version": 0},
        GOOD | {"current_version": "2"},
        GOOD | {"extra": 1},
        {k: v for k, v in GOOD.items() if k != "verdict"},
        [GOOD],
    ],
)
def test_anything_else_is_refused(doc: object) -> None:
    with pytest.raises(PeerError):
        parse_peer_status(json.dumps(doc).encode(), ORIGIN)


def test_not_json_is_refused() -> None:
    with pytest.raises(PeerError):
        parse_peer_status(b"\xff{", ORIGIN)
