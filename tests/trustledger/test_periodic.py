"""The one background loop of `serve`: a failing tick is logged with its traceback and counted and the loop goes on;
stop is prompt; start and stop are idempotent; the counts reach the metrics (the app's: verify_api/test_workers.py)."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

import pytest

from clock import system_clock
from tests.conftest import FakeClock
from tests.support import stopwatch
from trustledger.periodic import PeriodicWorker
from verify_api.metrics import Metrics

WAIT = 10.0  # real seconds a test waits for another thread at most (an event usually comes in milliseconds)


def _ticks(fail_first: int, wanted: int) -> tuple[Callable[[], None], threading.Event, list[int]]:
    """A tick that raises on its first `fail_first` calls and sets the event on call number `wanted`."""
    calls: list[int] = []
    reached = threading.Event()

    def tick() -> None:
        calls.append(len(calls) + 1)
        if len(calls) >= wanted:
            reached.set()
        if len(calls) <= fail_first:
            raise RuntimeError(f"tick {len(calls)} broke")

    return tick, reached, calls


def test_a_failing_tick_is_logged_and_counted_and_the_loop_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    tick, reached, _ = _ticks(fail_first=2, wanted=3)
    worker = PeriodicWorker("flaky", tick, 0.001, system_clock)
    with caplog.at_level(logging.ERROR, logger="trustledger.periodic"):
        worker.start()
        assert reached.wait(WAIT), "the loop stopped after a failing tick"
        worker.stop()
    assert worker.failures == 2 and worker.runs >= 3
    failed = [r for r in caplog.records if r.name == "trustledger.periodic"]
    assert len(failed) == 2 and all("flaky" in r.getMessage() for r in failed)
    assert all(r.exc_info is not None and "tick 1 broke" in caplog.text for r in failed)  # the traceback is logged


def test_stop_is_prompt_even_in_a_long_interval() -> None:
    tick, ran, _ = _ticks(fail_first=0, wanted=1)
    worker = PeriodicWorker("slow", tick, 3600.0, system_clock)
    worker.start()
    assert ran.wait(WAIT) and worker.running
    watch = stopwatch()
    worker.stop()
    assert watch.seconds < 2.0 and not worker.running
    assert worker.runs == 1  # the first tick at start, then an hour's wait that stop() cut short


def test_run_at_start_false_waits_one_interval_first() -> None:
    tick, _, calls = _ticks(fail_first=0, wanted=1)
    worker = PeriodicWorker("later", tick, 3600.0, FakeClock(), run_at_start=False)
    worker.start()
    worker.stop()
    assert calls == [] and worker.runs == 0


def test_start_and_stop_are_idempotent_and_on_stop_runs_once() -> None:
    tick, ran, _ = _ticks(fail_first=0, wanted=1)
    stopped: list[str] = []
    worker = PeriodicWorker("twice", tick, 3600.0, FakeClock(), on_stop=lambda: stopped.append("bye"))
    worker.stop()  # never started: nothing to do
    assert stopped == []
    worker.start()
    thread = next(t for t in threading.enumerate() if t.name == "twice")
    worker.start()
    assert [t for t in threading.enumerate() if t.name == "twice"] == [thread] and thread.daemon
    assert ran.wait(WAIT)
    worker.stop()
    worker.stop()
    assert stopped == ["bye"] and not thread.is_alive()
    worker.start()  # a stopped worker can run again
    worker.stop()
    assert stopped == ["bye", "bye"]


def test_a_failing_stop_step_is_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> None:
        raise RuntimeError("could not sign the last checkpoint")

    worker = PeriodicWorker("last", lambda: None, 3600.0, FakeClock(), run_at_start=False, on_stop=broken)
    with caplog.at_level(logging.ERROR, logger="trustledger.periodic"):
        worker.start()
        worker.stop()
    assert worker.failures == 1 and "could not sign the last checkpoint" in caplog.text


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        PeriodicWorker("never", lambda: None, 0, FakeClock())


def test_worker_counts_on_metrics() -> None:
    tick, _, _ = _ticks(fail_first=1, wanted=1)
    worker = PeriodicWorker("counted", tick, 3600.0, FakeClock())
    worker.run_once()
    worker.run_once()
    metrics = Metrics()
    metrics.watch_workers([worker])
    text = metrics.render().decode()
    assert re.search(r'^trustledger_worker_runs_total\{pid="\d+",worker="counted"\} 2\.0$', text, re.MULTILINE)
    assert re.search(r'^trustledger_worker_failures_total\{pid="\d+",worker="counted"\} 1\.0$', text, re.MULTILINE)
