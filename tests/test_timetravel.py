"""The date-free harness (scripts/date-free.sh) itself: every interpreter of the venv lands on the travel target, and
a child started later agrees with its parent on the wall clock instead of starting the journey again."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from clock import system_clock

pytestmark = pytest.mark.calendar

HOOK = Path(__file__).parents[1] / "scripts" / "timetravel_hook.py"
TARGET, ORIGIN = "TRUSTLEDGER_TEST_TRAVEL_TO", "TRUSTLEDGER_TEST_TRAVEL_ORIGIN"
# A child that prints its wall clock, then (after a real second) its own child's: both must have travelled.
# The children read time through the project's one clock provider, as every process of the project does.
READ_CLOCK = "from clock import system_clock; print(system_clock().isoformat())"
FAMILY = f"""
import subprocess, sys, time
{READ_CLOCK}
time.sleep(1)
print(subprocess.run([sys.executable, "-c", {READ_CLOCK!r}], capture_output=True, text=True, check=True).stdout.strip())
"""


def _run(code: str, env: dict[str, str]) -> list[datetime]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, timeout=60)
    return [datetime.fromisoformat(line) for line in out.stdout.split()]


def test_a_child_interpreter_reads_the_same_wall_clock() -> None:
    """Under scripts/date-free.sh the servers and CLIs a test starts live on the test's date, not a day apart."""
    before = system_clock()
    (child,) = _run(READ_CLOCK, dict(os.environ))
    after = system_clock()
    assert before - timedelta(seconds=2) <= child <= after + timedelta(seconds=2)


def test_every_interpreter_of_the_venv_travels_and_its_children_follow() -> None:
    env = {k: v for k, v in os.environ.items() if k != ORIGIN} | {TARGET: "2027-12-31T18:00:00Z"}
    child, grandchild = _run(FAMILY, env)
    target = datetime(2027, 12, 31, 18, 0, tzinfo=UTC)
    assert target <= child < target + timedelta(seconds=30), "the .pth hook is missing: run scripts/setup.sh"
    # The grandchild starts a real second later: it lands a second on, where its parent's clock has ticked to.
    assert child + timedelta(seconds=1) <= grandchild < child + timedelta(seconds=30)


def test_the_destination_is_the_target_shifted_by_the_time_since_travel_began() -> None:
    destination = cast(Callable[..., Any], runpy.run_path(str(HOOK))["destination"])
    target = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert destination("2028-02-29T12:00:00Z", None, 1000.0) == target
    assert destination("2028-02-29T20:00:00+08:00", "990.5", 1000.0) == target + timedelta(seconds=9.5)
    with pytest.raises(ValueError, match="must carry a UTC offset"):
        destination("2028-02-29T12:00:00", None, 1000.0)
