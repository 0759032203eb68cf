"""Commands: remind [--once], and the operator's view of the reminder outbox and contacts."""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

import typer

from licences.catalogue.model import Channel
from licences.errors import LicenceError
from reminders.addresses import ContactAddressError, parse_address
from reminders.errors import RemindersError
from reminders.model import OwnerKind, Topic
from reminders.store_outbox import OutboxStore
from trustledger.cli_common import emit, fail, region
from trustledger.remind import ReminderRuntime, reminder_metrics

remind_app = typer.Typer(help="Proactive expiry reminders: scheduler, outbox, dead letters, contacts.")


def _uuid(text: str, what: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise fail(f"{what}: not a UUID: {text!r}", 2) from None


@remind_app.callback(invoke_without_command=True)
def remind(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="one scheduler pass and one delivery pass, then exit")] = False,
    interval: Annotated[
        float | None, typer.Option(min=0.1, help="seconds between passes (default from settings)")
    ] = None,
) -> None:
    """Run the expiry reminder scheduler and delivery (for cron: --once)."""
    if ctx.invoked_subcommand is not None:
        return
    with region() as r:
        runtime = ReminderRuntime(r)
        try:
            while True:
                report = runtime.run_once()
                emit(report.to_json(), report.text())
                if once:
                    return
                time.sleep(interval or r.settings.remind_interval)
        except KeyboardInterrupt:
            return
        except (LicenceError, RemindersError) as exc:
            raise fail(str(exc)) from exc
        finally:
            runtime.close()


@remind_app.command("status")
def status() -> None:
    """Reminder counters of this process and the outbox gauges (rows per status)."""
    with region() as r:
        numbers = reminder_metrics(r)
        emit(numbers, "\n".join(f"{k}: {v}" for k, v in numbers.items()))


@remind_app.command("outbox")
def outbox(
    state: Annotated[str | None, typer.Option("--status", help="pending, sent, dead or cancelled")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """List outbox deliveries, oldest first."""
    if state is not None and state not in ("pending", "sent", "dead", "cancelled"):
        raise fail(f"--status: unknown status {state!r}", 2)
    _list_rows(state, limit)


@remind_app.command("dead-letters")
def dead_letters(limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100) -> None:
    """List deliveries that gave up (retries exhausted or a permanent failure), with their last error."""
    _list_rows("dead", limit)


def _list_rows(state: str | None, limit: int) -> None:
    with region() as r:
        rows = OutboxStore(r.store.engine).rows(status=state, limit=limit)
        text = "\n".join(
            f"{row.id}  {row.status:9} {row.kind:8} {row.channel:7} attempts={row.attempts} {row.ref}"
            + (f"  last error: {row.last_error}" if row.last_error else "")
            for row in rows
        )
        emit([row.to_json() for row in rows], text or "(none)")


@remind_app.command("requeue")
def requeue(delivery_id: str) -> None:
    """Put a dead-lettered delivery back in the queue with a fresh attempt budget."""
    wanted = _uuid(delivery_id, "DELIVERY_ID")
    with region() as r:
        try:
            OutboxStore(r.store.engine).requeue(wanted, r.clock())
        except (LicenceError, RemindersError) as exc:
            raise fail(str(exc)) from exc
        emit({"requeued": str(wanted)}, f"requeued {wanted}")


@remind_app.command("subscribe")
def subscribe(
    department: Annotated[str | None, typer.Option(help="department key or USCC")] = None,
    holder: Annotated[
        str | None, typer.Option(help="holder resident ID number or USCC (stored only as its digest)")
    ] = None,
    webhook: Annotated[str | None, typer.Option(help="https URL receiving signed JSON")] = None,
    email: Annotated[str | None, typer.Option(help="e-mail address")] = None,
    sms: Annotated[str | None, typer.Option(help="mobile number (sent through the SMS gateway)")] = None,
    digest: Annotated[bool, typer.Option(help="departments: also receive the monthly digest")] = True,
) -> None:
    """Add a contact for reminders; a webhook's signing secret is printed once."""
    if (department is None) == (holder is None):
        raise fail("give exactly one of --department or --holder", 2)
    given = [(c, a) for c, a in ((Channel.WEBHOOK, webhook), (Channel.EMAIL, email), (Channel.SMS, sms)) if a]
    if len(given) != 1:
        raise fail("give exactly one of --webhook, --email or --sms", 2)
    channel, given_address = given[0]
    with region() as r:
        try:
            if department is not None:
                kind, owner = OwnerKind.DEPARTMENT, r.catalogue.department(department).uscc
                topics = (Topic.REMINDER, Topic.DIGEST) if digest else (Topic.REMINDER,)
            else:
                assert holder is not None
                kind, owner, topics = OwnerKind.HOLDER, r.licences.holder_digest_of(holder), (Topic.REMINDER,)
        except (LicenceError, RemindersError, LookupError) as exc:
            raise fail(str(exc), 2) from exc
        try:
            address = parse_address(channel, given_address)
        except ContactAddressError as exc:
            raise fail(f"--{exc.field}: {exc.reason}", 2) from None
        sub = OutboxStore(r.store.engine).subscribe(kind, owner, channel, address, r.clock(), topics)
        doc = {"id": str(sub.id), "owner_kind": kind.value, "channel": channel.value, "secret": sub.secret}
        emit(doc, f"subscription {sub.id}" + (f"\nwebhook secret: {sub.secret}" if sub.secret else ""))


@remind_app.command("unsubscribe")
def unsubscribe(subscription_id: str) -> None:
    """Remove a contact; what is still queued for it is cancelled, not sent."""
    wanted = _uuid(subscription_id, "SUBSCRIPTION_ID")
    with region() as r:
        if not OutboxStore(r.store.engine).unsubscribe(wanted):
            raise fail(f"no subscription {wanted}")
        emit({"removed": str(wanted)}, f"removed {wanted}")


@remind_app.command("forget-holder")
def forget_holder(holder: str) -> None:
    """Erase every contact of a holder (ID number or USCC); deliveries still queued for them are cancelled."""
    with region() as r:
        try:
            digest = r.licences.holder_digest_of(holder)
        except (LicenceError, RemindersError) as exc:
            raise fail(str(exc), 2) from exc
        removed = OutboxStore(r.store.engine).forget_holder(digest)
        emit({"removed": removed}, f"removed {removed} contact(s)")


@remind_app.command("subscriptions")
def subscriptions() -> None:
    """List contacts (holders appear by digest; secrets are not shown)."""
    with region() as r:
        subs = OutboxStore(r.store.engine).subscriptions()
        docs = [
            {
                "id": str(s.id),
                "owner_kind": s.owner_kind.value,
                "owner": s.owner,
                "channel": s.channel.value,
                "address": s.address,
                "topics": [t.value for t in s.topics],
            }
            for s in subs
        ]
        text = "\n".join(f"{d['id']}  {d['owner_kind']:10} {d['owner']} {d['channel']:7} {d['address']}" for d in docs)
        emit(docs, text or "(none)")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root `trustledger` app."""
    app.add_typer(remind_app, name="remind")
