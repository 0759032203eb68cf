"""Prometheus metrics of one app: requests by route template, latency histograms, log size and checkpoint age, and
the runs and failures of the background workers (checkpoint signer, reminders, anchoring).

Each app owns its `CollectorRegistry` (tests build many apps in one process). With several uvicorn workers each
worker serves its own numbers, labelled with its `worker` pid; a scrape reaches one worker at a time, so sum or
max over `worker` in PromQL. The log gauges read the database at scrape time and are the same from every worker. The
background workers' counters name the worker in `worker` (e.g. `checkpoint-signer`) and the process in `pid`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from clock import Clock
from ledger.log import Log

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def parse_signed_at(text: str) -> datetime:
    """A stored checkpoint time (RFC 3339 UTC with `Z`) as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


class _LogCollector(Collector):
    """Log size and the age of the newest signed checkpoint, read when scraped."""

    def __init__(self, log: Log, clock: Clock) -> None:
        self._log = log
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("trustledger_log_size", "Number of leaves in the region's log")
        size.add_metric([], float(self._log.size()))
        yield size
        age = GaugeMetricFamily(
            "trustledger_checkpoint_age_seconds", "Seconds since the newest signed checkpoint (-1: none yet)"
        )
        cp = self._log.latest_checkpoint()
        seconds = -1.0 if cp is None else (self._clock() - parse_signed_at(cp.signed_at)).total_seconds()
        age.add_metric([], seconds)
        yield age
        covered = GaugeMetricFamily("trustledger_checkpoint_tree_size", "Tree size of the newest signed checkpoint")
        covered.add_metric([], float(0 if cp is None else cp.tree_size))
        yield covered


class WorkerStats(Protocol):
    """What /metrics reads of a background worker (`trustledger.periodic.PeriodicWorker` is one)."""

    @property
    def name(self) -> str:
        """The worker's name: its thread name and its `worker` label."""
        ...

    @property
    def runs(self) -> int:
        """Ticks run since start."""
        ...

    @property
    def failures(self) -> int:
        """Ticks (and stop steps) that raised."""
        ...


class _WorkerCollector(Collector):
    """`trustledger_worker_runs_total` and `trustledger_worker_failures_total` by worker name and process."""

    def __init__(self, workers: Sequence[WorkerStats], pid: str) -> None:
        self._workers = tuple(workers)
        self._pid = pid

    def collect(self) -> Iterator[CounterMetricFamily]:
        runs = CounterMetricFamily(
            "trustledger_worker_runs", "Ticks run by each background worker", labels=["worker", "pid"]
        )
        failures = CounterMetricFamily(
            "trustledger_worker_failures", "Ticks of each background worker that failed", labels=["worker", "pid"]
        )
        for worker in self._workers:
            runs.add_metric([worker.name, self._pid], float(worker.runs))
            failures.add_metric([worker.name, self._pid], float(worker.failures))
        yield runs
        yield failures


class Metrics:
    """The app's metrics; `observe` is called once per request by the middleware."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        worker = str(os.getpid())
        self.requests = Counter(
            "trustledger_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status", "worker"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "trustledger_http_request_duration_seconds",
            "HTTP request latency by method and route template",
            ["method", "route", "worker"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.alarms = Counter(
            "trustledger_integrity_alarms",
            "Answers refused because a table contradicts what the signed log proves (run `trustledger audit`)",
            ["kind", "worker"],
            registry=self.registry,
        )
        self._worker = worker
        # The labelled children by (method, route, status): `labels()` validates and locks on every call, a dict hit
        # does not (routes are templates, so the keys stay few).
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._log_collector: _LogCollector | None = None
        self._worker_collector: _WorkerCollector | None = None

    def watch_log(self, log: Log, clock: Clock) -> None:
        """Add the log gauges (once the region is open; a restarted lifespan replaces them)."""
        if self._log_collector is not None:
            self.registry.unregister(self._log_collector)
        self._log_collector = _LogCollector(log, clock)
        self.registry.register(self._log_collector)

    def watch_workers(self, workers: Sequence[WorkerStats]) -> None:
        """Count the runs and failures of these background workers (a restarted lifespan replaces them)."""
        if self._worker_collector is not None:
            self.registry.unregister(self._worker_collector)
        self._worker_collector = _WorkerCollector(workers, self._worker)
        self.registry.register(self._worker_collector)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and record its latency."""
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status), self._worker),
                self.latency.labels(method, route, self._worker),
            )
        children[0].inc()
        children[1].observe(seconds)

    def alarm(self, kind: str) -> None:
        """Count one integrity alarm of `kind`."""
        self.alarms.labels(kind, self._worker).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of everything registered."""
        return generate_latest(self.registry)
