"""Child process of the crash test: one delivery worker on a fixed clock, delivering webhooks until it is killed.

argv: database URL, the clock's ISO time, the lease in seconds. Prints "ready" once its first claim is made.
"""

import sys
from datetime import datetime, timedelta

from ledger.store import make_engine
from licences.catalogue.model import Channel
from reminders.delivery import DeliveryWorker, WebhookTransport
from reminders.model import ReminderMetrics
from reminders.store_outbox import OutboxStore

now = datetime.fromisoformat(sys.argv[2])
outbox = OutboxStore(make_engine(sys.argv[1]))
worker = DeliveryWorker(
    outbox,
    {Channel.WEBHOOK: WebhookTransport(timeout=30)},
    clock=lambda: now,
    worker_id="doomed-child",
    lease=timedelta(seconds=float(sys.argv[3])),
    metrics=ReminderMetrics(),
)
worker.run_once(limit=1000)
sys.stdout.write("finished\n")  # only reached if nobody killed us
