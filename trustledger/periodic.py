"""The one background loop of `serve`: a named daemon thread that calls a `tick` every `interval` seconds.

The checkpoint signer, the expiry reminders and the anchoring rounds are each a `tick` run by a `PeriodicWorker`.
A failing tick is logged with its traceback and counted, and the loop goes on: one bad round (a database restart, an
unreachable peer, a bug) must not end a loop that nobody watches. Waits are on a `threading.Event`, so `stop()` returns
as soon as the tick in progress (if any) has finished; the time a tick took is measured on the region's clock and
taken off the next wait, so ticks start `interval` seconds apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from clock import Clock

log = logging.getLogger("trustledger.periodic")
STOP_TIMEOUT = 30.0  # seconds `stop()` waits for a tick in progress before it gives up on the thread


class PeriodicWorker:
    """Calls `tick()` every `interval` seconds in a daemon thread named `name` until stopped.

    `runs` counts the ticks that ran and `failures` those that raised (the API shows both on /metrics).
    `run_at_start` runs the first tick at once, else after one interval; `on_stop` runs once after the thread ended
    (the checkpoint signer signs a last checkpoint there, the reminders close their connections). `start()` and
    `stop()` are idempotent; a stopped worker can be started again.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], object],
        interval: float,
        clock: Clock,
        *,
        run_at_start: bool = True,
        on_stop: Callable[[], object] | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"worker {name}: interval must be positive, not {interval}")
        self.name = name
        self.interval = interval
        self.runs = 0
        self.failures = 0
        self._tick = tick
        self._clock = clock
        self._run_at_start = run_at_start
        self._on_stop = on_stop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # start() and stop() from different threads see one thread or none

    @property
    def running(self) -> bool:
        """True while the thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        """Start the thread (a no-op while it runs)."""
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the thread after the tick in progress, then run `on_stop` (a no-op unless started)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._stop.set()
            thread.join(timeout)
        if thread.is_alive():
            log.warning("worker %s: a tick still runs after %.0f s; leaving its daemon thread", self.name, timeout)
        if self._on_stop is not None:
            self._call(self._on_stop, "stop")

    def run_once(self) -> bool:
        """One tick now, in the caller's thread, counted and logged like the loop's; True if it did not raise."""
        ok = self._call(self._tick, "tick")
        self.runs += 1
        return ok

    def _call(self, step: Callable[[], object], what: str) -> bool:
        try:
            step()
        except Exception:  # the loop must outlive any one failure; the log line carries the traceback
            self.failures += 1
            log.exception("worker %s: %s failed", self.name, what, extra={"worker": self.name})
            return False
        return True

    def _run(self) -> None:
        if not self._run_at_start and self._stop.wait(self.interval):
            return
        while not self._stop.is_set():
            started = self._clock.monotonic()
            self.run_once()
            took = self._clock.monotonic() - started
            if self._stop.wait(min(self.interval, max(0.0, self.interval - took))):
                return
