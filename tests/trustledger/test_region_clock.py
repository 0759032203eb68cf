"""The region's clock comes from settings (TRUSTLEDGER_CLOCK_AT, TRUSTLEDGER_CLOCK_OFFSET_SECONDS), and `init` and
`open` put the whole region on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from clock import OffsetClock, StartedClock, system_clock
from tests.conftest import START
from trustledger.region import init_region, open_region, region_clock
from trustledger.settings import Settings


def test_the_clock_follows_the_settings() -> None:
    assert region_clock(Settings()) is system_clock
    started = region_clock(Settings(clock_at="2027-01-01T00:30:00+08:00"))
    assert isinstance(started, StartedClock) and started.start == datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    shifted = region_clock(Settings(clock_at="2027-01-01T00:30:00Z", clock_offset_seconds=3600))
    assert isinstance(shifted, OffsetClock) and isinstance(shifted.base, StartedClock)
    assert shifted.offset == timedelta(hours=1)
    assert isinstance(region_clock(Settings(clock_offset_seconds=-60)), OffsetClock)


@pytest.mark.parametrize(
    "bad", ["2027-01-01", "2027-01-01T00:30:00", "2027-01-01 00:30:00+08:00", "2027-02-29T00:00:00Z", "tomorrow"]
)
def test_clock_at_must_be_an_instant_with_an_offset(bad: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTLEDGER_CLOCK_AT", bad)
    with pytest.raises(ValidationError, match="TRUSTLEDGER_CLOCK_AT must be an ISO 8601 instant with a UTC offset"):
        Settings()


def test_init_and_open_run_on_the_settings_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_CLOCK_AT", START.isoformat())
    region = init_region(Settings(), None, None, None)
    try:
        assert isinstance(region.clock, StartedClock) and region.clock.start == START
        keys = region.registry.keys_of(None)
        assert keys and all(START <= k.not_before < START + timedelta(minutes=5) for k in keys)  # not the real date
    finally:
        region.close()
    reopened = open_region(Settings())
    try:
        assert isinstance(reopened.clock, StartedClock) and START <= reopened.clock() < START + timedelta(minutes=5)
    finally:
        reopened.close()
