"""Acceptance rules: strict type codes, versions that only grow (on both databases, also under concurrent writers),
and the refusal wording when a peer's licence type is not recognised."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from anchors.acceptance import AcceptanceError, AcceptanceRule, acceptance_problem, parse_type_codes
from anchors.store import AnchorStore
from anchors.store_crossregion import CrossRegionStore

ORIGIN = "ledger.ha.gov.example/log"
BUSINESS = "11100000000013338W001"
FOOD = "11100000000013338W012"
NOW = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(anchor_store: AnchorStore) -> CrossRegionStore:
    s = CrossRegionStore(anchor_store.engine)
    s.create_tables()
    return s


def test_type_codes_are_strict_sorted_and_distinct() -> None:
    assert parse_type_codes([f"{FOOD}, {BUSINESS}", BUSINESS]) == (BUSINESS, FOOD)
    for bad in ("business-licence", "11100000000013338w001", "A" * 65, "1110 0000"):
        with pytest.raises(AcceptanceError):
            parse_type_codes([bad])
    with pytest.raises(AcceptanceError):
        AcceptanceRule(ORIGIN, 1, (FOOD, BUSINESS), NOW)  # not sorted: refused at construction
    with pytest.raises(AcceptanceError):
        AcceptanceRule(ORIGIN, 0, (), NOW)


def test_no_rule_or_another_type_is_not_recognised() -> None:
    assert acceptance_problem(None, ORIGIN, BUSINESS) is not None
    rule = AcceptanceRule(ORIGIN, 3, (FOOD,), NOW)
    problem = acceptance_problem(rule, ORIGIN, BUSINESS)
    assert problem is not None and "version 3" in problem and BUSINESS in problem
    assert acceptance_problem(rule, ORIGIN, FOOD) is None


def test_every_change_is_a_new_version(store: CrossRegionStore) -> None:
    assert store.latest_rule(ORIGIN) is None
    first = store.add_rule(ORIGIN, (BUSINESS,), "跨省通办 营业执照", NOW)
    second = store.add_rule(ORIGIN, (BUSINESS, FOOD), "", NOW)
    third = store.add_rule(ORIGIN, (), "withdrawn", NOW)
    assert [first.version, second.version, third.version] == [1, 2, 3]
    latest = store.latest_rule(ORIGIN)
    assert latest == third and not latest.accepts(BUSINESS)
    assert [r.licence_types for r in store.rules(ORIGIN)] == [(BUSINESS,), (BUSINESS, FOOD), ()]
    assert store.rules(ORIGIN)[0].note == "跨省通办 营业执照"
    other = store.add_rule("ledger.js.gov.example/log", (FOOD,), "", NOW)
    assert other.version == 1 and len(store.rules()) == 4


def test_concurrent_changes_get_distinct_versions(store: CrossRegionStore) -> None:
    errors: list[BaseException] = []

    def change(i: int) -> None:
        try:
            store.add_rule(ORIGIN, (BUSINESS,), f"writer {i}", NOW)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=change, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.version for r in store.rules(ORIGIN)] == [1, 2, 3, 4]
