"""Wiring of the expiry reminders of a region: scheduler and delivery worker from settings, the serve loop, metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from licences.catalogue.model import Channel
from reminders.delivery import (
    DeliveryWorker,
    SmsGatewayTransport,
    SmtpConfig,
    SmtpTransport,
    Transport,
    WebhookTransport,
)
from reminders.messages import load_reminder_catalogue
from reminders.model import METRICS, RetryPolicy
from reminders.scheduler import ReminderScheduler
from reminders.store_outbox import OutboxStore
from reminders.store_scan import ReminderScan
from trustledger.periodic import PeriodicWorker
from trustledger.region_core import RegionCore
from trustledger.settings import Settings


def transports(settings: Settings) -> dict[Channel, Transport]:
    """The delivery channels this region can use: webhooks always; e-mail and SMS once configured."""
    result: dict[Channel, Transport] = {Channel.WEBHOOK: WebhookTransport()}
    if settings.smtp_host:
        config = SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
            username=settings.smtp_username or None,
            password=settings.smtp_password or None,
        )
        result[Channel.EMAIL] = SmtpTransport(config)
    if settings.sms_gateway_url:
        result[Channel.SMS] = SmsGatewayTransport(settings.sms_gateway_url, settings.sms_gateway_secret)
    return result


@dataclass
class PassReport:
    """One scheduler pass plus one delivery pass, as numbers."""

    scheduled: dict[str, int]
    delivered: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        """JSON document of `remind --once`."""
        return {"scheduled": self.scheduled, "delivered": self.delivered}

    def text(self) -> str:
        """One line for people."""
        s, d = self.scheduled, self.delivered
        return (
            f"reminders: {s['due']} due, {s['recorded']} recorded, {s['skipped']} skipped, {s['queued']} queued, "
            f"{s['digests']} digests; deliveries: {d['sent']} sent, {d['retried']} retried, {d['dead']} dead"
        )


class ReminderRuntime:
    """The scheduler and the delivery worker of one region, run together pass by pass."""

    def __init__(self, region: RegionCore, settings: Settings | None = None) -> None:
        self.region = region
        self.settings = settings or region.settings
        self.outbox = OutboxStore(region.store.engine)
        catalogue = region.catalogue
        self.scheduler = ReminderScheduler(
            service=region.licences,
            scan=ReminderScan(region.store.engine),
            outbox=self.outbox,
            catalogue=catalogue,
            messages=load_reminder_catalogue(catalogue),
            clock=region.clock,
        )
        self.worker = DeliveryWorker(
            self.outbox,
            transports(self.settings),
            clock=region.clock,
            lease=timedelta(seconds=self.settings.remind_lease_seconds),
            policy=RetryPolicy(max_attempts=self.settings.remind_max_attempts),
        )

    def run_once(self, delivery_limit: int = 500) -> PassReport:
        """One scheduler pass, then deliveries until the due queue is empty or `delivery_limit` were claimed."""
        scheduled = self.scheduler.run_once().to_json()
        delivered = {"claimed": 0, "sent": 0, "retried": 0, "dead": 0, "cancelled": 0, "lease_lost": 0}
        while delivered["claimed"] < delivery_limit:
            counts = self.worker.run_once(min(100, delivery_limit - delivered["claimed"])).to_json()
            for key, value in counts.items():
                delivered[key] += value
            if counts["claimed"] == 0:
                break
        return PassReport(scheduled, delivered)

    def loop(self, interval: float | None = None) -> PeriodicWorker:
        """The reminder loop of `serve` (not started): `run_once` every `interval` seconds (default from settings),
        the first pass at once; stopping it closes the transports' connections."""
        every = interval or self.settings.remind_interval
        return PeriodicWorker("expiry-reminders", self.run_once, every, self.region.clock, on_stop=self.close)

    def close(self) -> None:
        """Close the transports' connections."""
        self.worker.close()


def reminder_metrics(region: RegionCore) -> dict[str, int]:
    """Reminder numbers for monitoring: this process's counters and the outbox's gauges (rows per status).

    Counters (since start): due, recorded, skipped, queued, sent, failed, dead_lettered, cancelled, digests.
    Gauges: outbox_pending, outbox_sent, outbox_dead, outbox_cancelled, outbox_failures (attempts that failed).
    """
    counts = OutboxStore(region.store.engine).counts()
    return METRICS.snapshot() | {f"outbox_{k}": v for k, v in counts.items()}


class ServeReminders:
    """The reminder loop of `serve`: `start()` in the app's lifespan, `stop()` on shutdown; off when disabled."""

    def __init__(self, region: RegionCore) -> None:
        self.periodic = ReminderRuntime(region).loop() if region.settings.remind_in_serve else None

    def start(self) -> None:
        """Start the background loop."""
        if self.periodic is not None:
            self.periodic.start()

    def stop(self) -> None:
        """Stop after the current pass and close connections."""
        if self.periodic is not None:
            self.periodic.stop()


class ReminderCollector(Collector):
    """Prometheus view of `reminder_metrics`: process counters (labelled by worker pid) and outbox gauges by status."""

    _COUNTERS: ClassVar[dict[str, str]] = {
        "due": "Licences found due for a reminder stage",
        "recorded": "ExpiryReminderSent events recorded",
        "skipped": "Due licences another scheduler recorded first, or that changed since the scan",
        "queued": "Outbox deliveries queued with their reminder",
        "sent": "Deliveries sent",
        "failed": "Delivery attempts that failed and will be retried",
        "dead_lettered": "Deliveries moved to the dead letters",
        "cancelled": "Deliveries cancelled because their subscription was removed",
        "digests": "Monthly department digests queued",
    }

    def __init__(self, region: RegionCore) -> None:
        self._region = region
        self._worker = str(os.getpid())

    def collect(self) -> Iterator[Metric]:
        """Read the counters and the outbox at scrape time."""
        numbers = reminder_metrics(self._region)
        for name, doc in self._COUNTERS.items():
            counter = CounterMetricFamily(f"trustledger_reminders_{name}", doc, labels=["worker"])
            counter.add_metric([self._worker], float(numbers[name]))
            yield counter
        rows = GaugeMetricFamily("trustledger_reminder_outbox_rows", "Outbox rows by status", labels=["status"])
        for status in ("pending", "sent", "dead", "cancelled"):
            rows.add_metric([status], float(numbers[f"outbox_{status}"]))
        yield rows
        failures = GaugeMetricFamily("trustledger_reminder_outbox_failures", "Failed attempts recorded in the outbox")
        failures.add_metric([], float(numbers["outbox_failures"]))
        yield failures
