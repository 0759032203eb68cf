"""The clock provider: a started clock ticks from its instant, an offset clock shifts another, the fake one conforms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from clock import Clock, OffsetClock, StartedClock, system_clock
from tests.conftest import START, FakeClock


def test_the_fake_clock_is_a_clock_and_its_monotonic_time_follows_it() -> None:
    fake = FakeClock()
    assert isinstance(fake, Clock) and isinstance(system_clock, Clock)
    before = fake.monotonic()
    fake.advance(seconds=5)
    assert fake.monotonic() - before == 5.0 and fake() == START + timedelta(seconds=5)


def test_a_started_clock_ticks_from_its_instant_with_its_base() -> None:
    base = FakeClock(datetime(2030, 6, 1, tzinfo=UTC))
    started = StartedClock(datetime(2028, 2, 29, 23, 59, 59, tzinfo=timezone(timedelta(hours=8))), base)
    assert started() == datetime(2028, 2, 29, 15, 59, 59, tzinfo=UTC) and started().tzinfo == UTC
    base.advance(seconds=2)
    assert started() == datetime(2028, 2, 29, 16, 0, 1, tzinfo=UTC)
    assert started.monotonic() == base.monotonic()
    with pytest.raises(ValueError, match="timezone-aware"):
        StartedClock(datetime(2028, 2, 29), base)  # a naive instant


def test_an_offset_clock_shifts_the_instant_not_the_durations() -> None:
    base = FakeClock()
    later = OffsetClock(base, timedelta(days=1))
    assert later() == START + timedelta(days=1) and later.monotonic() == base.monotonic()
