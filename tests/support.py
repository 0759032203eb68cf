"""Helpers for tests that wait on real things (a server coming up, a background thread): never on the date."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

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


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(env: dict[str, str], workers: int = 1, *, up_within: float = 120) -> Iterator[str]:
    """A real `trustledger serve` on a free loopback port, up (its /healthz answers) before this yields its base URL;
    stopped with its whole process group afterwards."""
    trustledger = str(Path(sys.executable).with_name("trustledger"))
    port = free_port()
    argv = [trustledger, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        budget = deadline(up_within)
        while not _healthy(base):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "server exited"
            assert budget, "server did not come up"
            time.sleep(0.2)
        yield base
    finally:
        _stop(proc)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(base + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
