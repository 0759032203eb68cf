"""Key validity over time (DESIGN §6): a signature counts only if its key was good when it signed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from signatures.cose import ALG_EDDSA, ALG_ES256, key_id_for
from signatures.errors import MalformedError, VerificationError
from signatures.keyring import KeyRecord, KeyRing, check_key_valid_at, key_problem_at_second
from tests.signatures import helpers as h


@pytest.fixture
def record() -> KeyRecord:
    return KeyRecord.from_public_key(h.ed25519("k").public_key(), h.ISSUER_A, h.KEYS_FROM, h.KEYS_FROM + 365 * h.DAY)


def test_from_public_key_derives_kid_and_alg(record: KeyRecord) -> None:
    assert record.kid == key_id_for(h.ed25519("k").public_key())
    assert record.alg == ALG_EDDSA
    p256 = KeyRecord.from_public_key(h.p256("k").public_key(), h.ISSUER_B, h.KEYS_FROM)
    assert p256.alg == ALG_ES256


def test_kid_must_match_the_key(record: KeyRecord) -> None:
    with pytest.raises(MalformedError, match="kid"):
        replace(record, kid=b"\x00" * 8)


def test_alg_must_match_the_key(record: KeyRecord) -> None:
    with pytest.raises(MalformedError, match="algorithm"):
        replace(record, alg=ALG_ES256)


def test_public_key_must_be_spki(record: KeyRecord) -> None:
    with pytest.raises(MalformedError):
        replace(record, public_key=record.public_key[-32:])


def test_naive_times_are_refused(record: KeyRecord) -> None:
    with pytest.raises(MalformedError, match="timezone"):
        replace(record, not_before=datetime(2024, 1, 1))
    with pytest.raises(MalformedError, match="timezone"):
        check_key_valid_at(record, datetime(2024, 6, 1))


def test_empty_window_is_refused(record: KeyRecord) -> None:
    with pytest.raises(MalformedError, match="empty"):
        replace(record, not_after=record.not_before)


@pytest.mark.parametrize(
    ("offset_days", "valid"), [(-1, False), (0, True), (100, True), (364, True), (365, False), (400, False)]
)
def test_validity_window(record: KeyRecord, offset_days: int, valid: bool) -> None:
    when = h.KEYS_FROM + offset_days * h.DAY
    if valid:
        check_key_valid_at(record, when)
    else:
        with pytest.raises(VerificationError, match="key not valid at signing time"):
            check_key_valid_at(record, when)


def test_retirement_keeps_earlier_signatures(record: KeyRecord) -> None:
    retired = record.retire(h.KEYS_FROM + 100 * h.DAY)
    check_key_valid_at(retired, h.KEYS_FROM + 99 * h.DAY)
    with pytest.raises(VerificationError, match="key not valid at signing time"):
        check_key_valid_at(retired, h.KEYS_FROM + 100 * h.DAY)


def test_compromise_rejects_from_the_compromise_time(record: KeyRecord) -> None:
    since = h.KEYS_FROM + 50 * h.DAY
    compromised = record.mark_compromised(since)
    check_key_valid_at(compromised, since - h.DAY)
    with pytest.raises(VerificationError, match="key compromised since 2024-02-20"):
        check_key_valid_at(compromised, since)
    with pytest.raises(VerificationError, match="key compromised since"):
        check_key_valid_at(compromised, since + h.DAY)


def test_key_ring_lookup_and_duplicates(record: KeyRecord) -> None:
    ring = KeyRing.of([record])
    assert ring.get(record.kid) is record
    assert ring.public_key(record.kid) is record.key
    assert ring.get(b"\x00" * 8) is None
    assert ring.public_key(b"\x00" * 8) is None
    with pytest.raises(MalformedError, match="kid"):
        KeyRing.of([record, record.retire(h.T0)])


HALF = timedelta(microseconds=500_000)
NOT_VALID, COMPROMISED = "key_not_valid_at_signing_time", "key_compromised"


@pytest.mark.parametrize(
    ("changes", "offset", "problem"),
    [
        ({"not_before": h.KEYS_FROM + HALF}, 0, None),  # registered during second S: signs tokens stamped S
        ({"not_before": h.KEYS_FROM + HALF}, -1, NOT_VALID),
        ({"retired_at": h.KEYS_FROM + 9 * h.DAY + HALF}, 9 * 86400, None),  # retired during S: S still counts
        ({"retired_at": h.KEYS_FROM + 9 * h.DAY}, 9 * 86400, None),  # retired at S exactly: S still counts
        ({"retired_at": h.KEYS_FROM + 9 * h.DAY}, 9 * 86400 + 1, NOT_VALID),
        ({"not_after": h.KEYS_FROM + 9 * h.DAY + HALF}, 9 * 86400, NOT_VALID),  # window ends during S: fail closed
        ({"not_after": h.KEYS_FROM + 9 * h.DAY}, 9 * 86400 - 1, None),
        ({"compromised_since": h.KEYS_FROM + 9 * h.DAY + HALF}, 9 * 86400, COMPROMISED),  # fail closed
        ({"compromised_since": h.KEYS_FROM + 9 * h.DAY}, 9 * 86400 - 1, None),
        ({"compromised_since": h.KEYS_FROM, "retired_at": h.KEYS_FROM}, 0, COMPROMISED),  # compromise wins
    ],
)
def test_key_problem_at_second(record: KeyRecord, changes: dict[str, Any], offset: int, problem: str | None) -> None:
    """Token times are whole seconds; key times are compared at that resolution (see the docstring's rules)."""
    changed = replace(record, **changes)
    assert key_problem_at_second(changed, h.ts(h.KEYS_FROM) + offset) == problem
