"""The one clock provider: the only code that reads the wall clock or the monotonic clock.

Every service, loop, cache and route is handed a `Clock` from the composition root (`trustledger`), so a test (or a
drill) chooses the instant a whole region sees. A clock is called for the current instant (timezone-aware UTC) and
asked `monotonic()` for durations and cache ages; a clock that is moved by hand moves both together.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

__all__ = ["CHINA_TIME", "Clock", "OffsetClock", "StartedClock", "SystemClock", "iso_utc", "system_clock"]

# China's one time zone, UTC+8 all year (no daylight saving since 1991): the calendar that licence dates, serial years,
# validity periods, reminder stages and monthly digests are counted on.
CHINA_TIME = timezone(timedelta(hours=8), "CST")


@runtime_checkable
class Clock(Protocol):
    """A source of time: `clock()` is now (aware, UTC); `clock.monotonic()` is seconds for measuring intervals."""

    def __call__(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never go backwards (durations, cache ages, deadlines)."""
        ...


class SystemClock:
    """The machine's clock: wall time in UTC and `time.monotonic()`."""

    def __call__(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()


class OffsetClock:
    """Another clock shifted by a fixed offset (a drill: what would this region decide an hour from now?)."""

    def __init__(self, base: Clock, offset: timedelta) -> None:
        self.base = base
        self.offset = offset

    def __call__(self) -> datetime:
        return self.base() + self.offset

    def monotonic(self) -> float:
        return self.base.monotonic()

    def __repr__(self) -> str:
        return f"OffsetClock({self.base!r}, {self.offset!r})"


class StartedClock:
    """A clock that starts at a chosen instant and then ticks with another clock's monotonic time.

    Lets a server started by a test (or a rehearsal) live at a chosen date while timeouts and waits stay real.
    """

    def __init__(self, start: datetime, base: Clock = system_clock) -> None:
        if start.tzinfo is None:
            raise ValueError("the start instant must be timezone-aware")
        self.base = base
        self.start = start.astimezone(UTC)
        self._origin = base.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.base.monotonic() - self._origin)

    def monotonic(self) -> float:
        return self.base.monotonic()

    def __repr__(self) -> str:
        return f"StartedClock({self.start.isoformat()})"


def iso_utc(moment: datetime, *, fraction: bool = False) -> str:
    """`moment` in UTC as RFC 3339 with a `Z`: whole seconds (`2027-12-31T18:00:00Z`), or with its microseconds."""
    utc = moment.astimezone(UTC)
    return utc.isoformat().replace("+00:00", "Z") if fraction else utc.strftime("%Y-%m-%dT%H:%M:%SZ")
