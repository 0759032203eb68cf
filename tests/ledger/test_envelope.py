"""Leaf data is RFC 8785 canonical JSON, byte for byte (checked against the rfc8785 package)."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.envelope import Envelope, canonical_json, parse_leaf_data
from ledger.errors import LedgerError

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
safe_int = st.integers(0, 2**53 - 1)


@given(safe_int, text, safe_int, text, text, text)
def test_leaf_data_is_jcs(index: int, stream: str, version: int, topic: str, recorded_at: str, digest: str) -> None:
    env = Envelope(index, stream, version, topic, recorded_at, digest)
    doc = {
        "index": index,
        "stream": stream,
        "version": version,
        "type": topic,
        "recorded_at": recorded_at,
        "payload_sha256": digest,
    }
    assert env.leaf_data() == rfc8785.dumps(doc) == canonical_json(doc)


def test_parse_round_trip_and_rejections() -> None:
    env = Envelope.of(7, "s", 1, "t", "2026-01-01T00:00:00.000000Z", b"{}")
    assert parse_leaf_data(env.leaf_data()) == env
    with pytest.raises(LedgerError):
        parse_leaf_data(env.leaf_data().replace(b'{"index"', b'{ "index"'))
    with pytest.raises(LedgerError):
        Envelope(2**53, "s", 1, "t", "x", "d").leaf_data()
    with pytest.raises(LedgerError):
        Envelope(1, b"\\ud800".decode("unicode_escape"), 1, "t", "x", "d").leaf_data()
