"""The calendar edges every date-dependent test runs at, and regions initialised at them.

Three instants where a UTC calendar and the China calendar (UTC+8, no daylight saving) are easily confused:
the 1st of a month just after midnight UTC, 29 February of a leap year, and 31 December 18:00 UTC, which is already
02:00 on New Year's Day in China. Tests write the values they expect at each instant by hand (a table per test),
never by calling the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeClock
from trustledger.region import init_region
from trustledger.settings import Settings

FIRST_OF_MONTH = datetime(2027, 3, 1, 0, 30, tzinfo=UTC)  # 08:30 on 1 March in China
LEAP_DAY = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)  # 20:00 on 29 February in China
NEW_YEAR_IN_CHINA = datetime(2027, 12, 31, 18, 0, tzinfo=UTC)  # 02:00 on 1 January 2028 in China
INSTANTS = {"first-of-month": FIRST_OF_MONTH, "leap-day": LEAP_DAY, "new-year-in-china": NEW_YEAR_IN_CHINA}
PASSPHRASE = "calendar-edges"


def each_instant(table: dict[str, Any] | None = None) -> pytest.MarkDecorator:
    """`pytest.mark.parametrize` over the three instants, with the expected values of each (`table[id]`) if given."""
    if table is None:
        return pytest.mark.parametrize("instant", [pytest.param(at, id=name) for name, at in INSTANTS.items()])
    assert set(table) == set(INSTANTS), "a table of expected values names every instant"
    params = [pytest.param(at, table[name], id=name) for name, at in INSTANTS.items()]
    return pytest.mark.parametrize(("instant", "expected"), params)


def init_home(home: Path, database_url: str, instant: datetime, **settings: Any) -> Settings:
    """Initialise a region whose keys, catalogue and seal PKI are all registered at `instant`; returns its settings.

    Tests open it with `open_region(settings, FakeClock(instant))`, one fresh clock each.
    """
    s = Settings(home=home, database_url=database_url, key_passphrase=PASSPHRASE, **settings)
    init_region(s, None, None, None, FakeClock(instant)).close()
    return s
