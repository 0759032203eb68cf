"""The expiry reminder scheduler (DESIGN §10): due licences from the index → `ExpiryReminderSent` + outbox rows.

One pass: for every licence type with reminders, the stage windows at `now`; one keyset scan of `licence_index`
finds active licences in a window whose stage was not sent yet (no event replay); for each, the messages are rendered
and `LicenceService.record_reminder` writes the event with its outbox rows in one transaction. Several schedulers
may run at once: the aggregate's version check lets one of them win, the others get `ConcurrentUpdateError` or
`ReminderError` ("someone else did it") and move on, so every stage is recorded and queued exactly once.

Skipped on purpose: suspended and revoked licences (the scan takes `lifecycle = active` only: a suspended licence is
not to be renewed until reinstated, and is reminded of the stage that is current when it is reinstated); expired
ones; renewed ones have a new `valid_until` and `reminded_stage` reset, so they come due again in the next period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from clock import Clock
from licences.catalogue.model import Catalogue
from licences.errors import ConcurrentUpdateError, LicenceError, ReminderError
from licences.values import LicenceId, utc
from reminders.errors import MessageRenderError
from reminders.messages import ReminderCatalogue
from reminders.model import (
    METRICS,
    DueLicence,
    Month,
    OutboxMessage,
    ReminderMetrics,
    StageWindow,
    Topic,
    digest_context,
    digest_data,
    digest_messages,
    reminder_context,
    reminder_data,
    reminder_messages,
    reminder_recipients,
    stage_windows,
)
from reminders.store_outbox import OutboxStore
from reminders.store_scan import ReminderScan

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)


class ReminderRecorder(Protocol):
    """What the scheduler needs of `LicenceService`."""

    def record_reminder(
        self,
        licence_id: LicenceId,
        stage: int,
        *,
        same_transaction: Callable[[Connection, int], None] | None = None,
    ) -> int:
        """Write `ExpiryReminderSent(stage)`, running `same_transaction` inside its transaction."""
        ...

    def masked_holder_name(self, licence_id: LicenceId) -> str | None:
        """The holder's masked name, None once shredded."""
        ...


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one scheduler pass did."""

    due: int = 0
    recorded: int = 0
    skipped: int = 0
    queued: int = 0
    no_recipient: int = 0
    failed: int = 0
    digests: int = 0

    def to_json(self) -> dict[str, int]:
        """Plain numbers."""
        return {k: getattr(self, k) for k in PassResult.__dataclass_fields__}


class ReminderScheduler:
    """Finds due licences, records their reminder stage and queues the deliveries; queues monthly digests."""

    def __init__(
        self,
        *,
        service: ReminderRecorder,
        scan: ReminderScan,
        outbox: OutboxStore,
        catalogue: Catalogue,
        messages: ReminderCatalogue,
        clock: Clock,
        page: int = 500,
        digests: bool = True,
        metrics: ReminderMetrics = METRICS,
    ) -> None:
        self.service = service
        self.scan = scan
        self.outbox = outbox
        self.catalogue = catalogue
        self.messages = messages
        self.clock = clock
        self.page = page
        self.digests = digests
        self.metrics = metrics

    def windows(self, now: datetime) -> dict[str, tuple[StageWindow, ...]]:
        """Each reminded licence type's stage windows at `now`, by type code."""
        return {
            t.code: stage_windows(t.reminders.lead_days, now)
            for t in self.catalogue.licence_types
            if t.reminders.lead_days
        }

    def run_once(self) -> PassResult:
        """One pass over every due licence (in keyset pages), then the digests of next month."""
        now = utc(self.clock())
        tally = {"due": 0, "recorded": 0, "skipped": 0, "queued": 0, "no_recipient": 0, "failed": 0}
        for page in self.scan.due_pages(self.windows(now), self.page):
            for due in page:
                tally["due"] += 1
                outcome, queued = self._remind(due, now)
                tally[outcome] += 1
                tally["queued"] += queued
                if outcome == "recorded" and queued == 0:
                    tally["no_recipient"] += 1
        digests = self.queue_digests(now) if self.digests else 0
        self.metrics.add(
            due=tally["due"],
            recorded=tally["recorded"],
            skipped=tally["skipped"],
            queued=tally["queued"],
            digests=digests,
        )
        return PassResult(digests=digests, **tally)

    def _remind(self, due: DueLicence, now: datetime) -> tuple[str, int]:
        try:
            licence_type = self.catalogue.licence_type(due.type_code)
            department = self.catalogue.department(due.issuer)
            candidates = self.outbox.recipients(due.holder_digest, due.issuer, Topic.REMINDER)
            recipients = reminder_recipients(licence_type, candidates)
            holder_name = self.service.masked_holder_name(due.licence_id) if recipients else None
            context = reminder_context(due, licence_type, department, self.catalogue.region.name_zh, holder_name, now)
            message = self.messages.render_reminder(licence_type, due.stage, context)
        except (MessageRenderError, LookupError, LicenceError) as exc:
            # Fail closed: nothing is recorded, so the next pass tries again once the data or templates are fixed.
            log.error("reminder %s stage %s not rendered: %s", due.licence_id, due.stage, exc)
            return "failed", 0
        rows: list[OutboxMessage] = []

        def enqueue(conn: Connection, leaf_index: int) -> None:
            rows[:] = reminder_messages(due, leaf_index, recipients, message, reminder_data(due, licence_type, now))
            self.outbox.enqueue(conn, rows, now)

        try:
            self.service.record_reminder(due.licence_id, due.stage, same_transaction=enqueue)
        except (ReminderError, ConcurrentUpdateError):
            return "skipped", 0  # another scheduler recorded it first, or the licence changed since the scan
        return "recorded", len(rows)

    def queue_digests(self, now: datetime) -> int:
        """Queue each subscribed department's digest of next month once (idempotent: ids fixed by month)."""
        month = Month.of(now).next()
        queued = 0
        for uscc, recipients in self.outbox.digest_subscribers().items():
            ref = f"digest/{uscc}/{month.key}"
            if self.outbox.has_ref(ref):
                continue
            try:
                department = self.catalogue.department(uscc)
            except LookupError:
                log.warning("digest subscription for unknown department %s", uscc)
                continue
            items = self.scan.expiring(uscc, month.start, month.end)
            if not items:
                continue
            context = digest_context(
                department, month, items, self.catalogue, self.catalogue.region.name_zh, self.messages.max_digest_items
            )
            message = self.messages.render_digest(context)
            messages = digest_messages(department, month, recipients, message, digest_data(department, month, items))
            queued += self.outbox.enqueue_once(messages, now)
        return queued
