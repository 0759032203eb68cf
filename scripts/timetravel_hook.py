"""Moves the wall clock of this Python process to TRUSTLEDGER_TEST_TRAVEL_TO (a test harness, never production).

`scripts/setup.sh` installs a `.pth` file in the venv that runs this file at interpreter start-up when the variable
is set, so the pytest workers and every server or CLI the tests start agree on the date (`scripts/date-free.sh`).
`time-machine` moves `datetime.now()`, `time.time()` and friends and lets them tick; monotonic time and sleeps stay
real, so timeouts and timed waits behave as usual.

Every process must see the same instant, not the travel target plus its own age: the first traveller records the
real time travel began in TRUSTLEDGER_TEST_TRAVEL_ORIGIN, and its children (which inherit the environment) land
at `target + (real now - origin)`, i.e. all of them run on real time shifted by one fixed offset.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta

TARGET = "TRUSTLEDGER_TEST_TRAVEL_TO"
ORIGIN = "TRUSTLEDGER_TEST_TRAVEL_ORIGIN"


def destination(target: str, origin: str | None, real_now: float) -> datetime:
    """Where this process lands: `target` shifted by the real time elapsed since travel began (at `origin`)."""
    moment = datetime.fromisoformat(target.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{TARGET} must carry a UTC offset, such as 2027-03-01T00:30:00Z, not {target!r}")
    elapsed = 0.0 if origin is None else max(0.0, real_now - float(origin))
    return moment.astimezone(UTC) + timedelta(seconds=elapsed)


def travel_from_environment() -> None:
    """Start travelling if TRUSTLEDGER_TEST_TRAVEL_TO is set (once per process); a no-op otherwise."""
    target = os.environ.get(TARGET)
    # Already travelling: a venv whose lib64 links to lib reads each .pth file twice, and a second start would land
    # at `target + (travelled now - origin)`, a year or so too late.
    if not target or "time_machine" in sys.modules:
        return
    import time_machine  # only a dev dependency: imported when travelling, never otherwise

    real_now = time.time()
    origin = os.environ.setdefault(ORIGIN, repr(real_now))
    time_machine.travel(destination(target, origin, real_now), tick=True).start()
    # time-machine starts ticking at the first reading, not at start(): read now, or this process would lag behind
    # its children by however long the imports before its first reading take.
    time.time()
