"""Helpers for tests that wait on real things (a server coming up, a background thread): never on the date."""

from __future__ import annotations

from clock import system_clock


class Deadline:
    """A real-time budget for waiting on another thread or process (the only time a test reads the machine's clock)."""

    def __init__(self, seconds: float) -> None:
        self._until = system_clock.monotonic() + seconds

    def __bool__(self) -> bool:
        """True while time is left."""
        return system_clock.monotonic() < self._until

    @property
    def passed(self) -> bool:
        """True once the budget is spent."""
        return not self


def deadline(seconds: float) -> Deadline:
    """A budget of `seconds` of real time: `while deadline: ...` waits at most that long."""
    return Deadline(seconds)


class Stopwatch:
    """Real seconds since it was started: for reporting how long a load test took, never for a date."""

    def __init__(self) -> None:
        self._started = system_clock.monotonic()

    @property
    def seconds(self) -> float:
        """Seconds elapsed so far."""
        return system_clock.monotonic() - self._started


def stopwatch() -> Stopwatch:
    """A stopwatch started now."""
    return Stopwatch()
