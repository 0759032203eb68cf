"""Uses of a peer's licence are recorded on our own ledger: one leaf each, replayable; bad input names its field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from anchors.uses import UseInputError, UseRequest, load_peer_use, record_peer_use
from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore

NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
FACTS = {
    "origin": "ledger.ha.gov.example/log",
    "identifier": "1.2.156.3005.2.11100000000013338W001.11410000005164805L.00000000001.001.X",
    "licence_version": 1,
    "leaf_index": 42,
    "verdict": "valid",
    "reasons": [],
    "trust_list_version": 2,
    "checkpoint_size": 50,
    "acceptance_version": 1,
}


def test_a_use_is_one_leaf_on_our_ledger(store: LedgerStore) -> None:
    recorder = LedgerRecorder(store, clock=lambda: NOW)
    use = UseRequest("江苏省政务服务平台", "320100-001", "开办企业", "授权书 JS-1")
    first = record_peer_use(recorder, NOW, use, FACTS)
    refused = record_peer_use(recorder, NOW, use, FACTS | {"verdict": "valid_unconfirmed"})
    assert (first.leaf_index, refused.leaf_index) == (0, 1)
    assert (first.outcome, refused.outcome) == ("accepted", "refused")
    loaded = load_peer_use(recorder, first.use_id)
    assert loaded is not None and loaded.origin == FACTS["origin"] and loaded.verdict == "valid"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"matter_code": "320100 001"}, "matter_code"),
        ({"purpose": "   "}, "purpose"),
        ({"consent": ""}, "consent"),
        ({"verifier": "x" * 201}, "verifier"),
    ],
)
def test_bad_use_input_names_the_field(kwargs: dict[str, str], field: str) -> None:
    values = {"verifier": "审批系统", "matter_code": "320100-001", "purpose": "开办企业", "consent": "授权书"} | kwargs
    with pytest.raises(UseInputError) as caught:
        UseRequest(**values)
    assert caught.value.field == field
