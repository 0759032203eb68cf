"""`trustledger remind` (DESIGN §13) and the reminder loop of `serve`, against a real webhook receiver."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from typer.testing import CliRunner

from clock import StartedClock
from reminders.store_outbox import OutboxStore
from tests.reminders.reminder_servers import WebhookReceiver, webhook_server
from tests.support import deadline
from trustledger.cli import app
from trustledger.region import Region, open_region
from trustledger.remind import ReminderCollector, ServeReminders, reminder_metrics
from trustledger.settings import Settings

FOOD = {
    "legal_representative": "张伟",
    "premises": "郑州市金水区花园路1号",
    "main_format": "餐饮服务经营者",
    "business_items": "热食类食品制售",
}


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock) -> CliRunner:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", db_url)
    monkeypatch.setenv("TRUSTLEDGER_KEY_PASSPHRASE", "cli-remind-tests")
    runner = CliRunner()
    run(runner, "init")
    return runner


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def _issue_expiring(region: Region, days: int) -> str:
    now = region.clock()
    view = region.licences.issue(
        type_code="food-business-licence",
        issuer="zz-amr",
        holder_id="91350100M000100Y43",
        holder_name="郑州鼎盛商贸有限公司",
        fields=FOOD,
        valid_from=now - timedelta(days=400),
        valid_until=now + timedelta(days=days),
    )
    return str(view.id)


def test_remind_once_records_queues_and_delivers(cli: CliRunner, process_clock: StartedClock) -> None:
    with webhook_server(WebhookReceiver("", process_clock)) as receiver:
        sub = json.loads(
            run(
                cli, "--json", "remind", "subscribe", "--department", "zz-amr", "--webhook", receiver.url, "--no-digest"
            )
        )
        assert sub["secret"] and sub["owner_kind"] == "department"
        receiver.secret = sub["secret"]
        region = open_region(Settings())
        try:
            licence_id = _issue_expiring(region, 20)
        finally:
            region.close()
        report = json.loads(run(cli, "--json", "remind", "--once"))
        assert (report["scheduled"]["recorded"], report["scheduled"]["queued"]) == (1, 1)
        assert report["delivered"]["sent"] == 1
        again = json.loads(run(cli, "--json", "remind", "--once"))
        assert (again["scheduled"]["due"], again["delivered"]["claimed"]) == (0, 0)
    (doc,) = receiver.unique.values()
    assert doc["data"]["licence_id"] == licence_id and doc["data"]["stage"] == 30
    status = json.loads(run(cli, "--json", "remind", "status"))
    assert status["outbox_sent"] == 1 and status["outbox_dead"] == 0
    assert json.loads(run(cli, "--json", "remind", "dead-letters")) == []
    (row,) = json.loads(run(cli, "--json", "remind", "outbox", "--status", "sent"))
    assert row["status"] == "sent" and row["stage"] == 30
    assert "reminders: 0 due" in run(cli, "remind", "--once")
    subs = json.loads(run(cli, "--json", "remind", "subscriptions"))
    assert [s["address"] for s in subs] == [receiver.url] and "secret" not in subs[0]
    region = open_region(Settings())
    try:
        registry = CollectorRegistry()
        registry.register(ReminderCollector(region))
        exposition = generate_latest(registry).decode()
    finally:
        region.close()
    assert 'trustledger_reminder_outbox_rows{status="sent"} 1.0' in exposition
    assert 'trustledger_reminder_outbox_rows{status="dead"} 0.0' in exposition
    assert "trustledger_reminders_sent_total{" in exposition and "trustledger_reminders_due_total{" in exposition


def test_remind_operator_errors(cli: CliRunner) -> None:
    assert "no delivery" in run(cli, "remind", "requeue", str(uuid.uuid4()), code=1)
    assert "not a UUID" in run(cli, "remind", "requeue", "42", code=2)
    assert "http(s) URL" in run(cli, "remind", "subscribe", "--department", "zz-amr", "--webhook", "ftp://x", code=2)
    assert "exactly one of --department" in run(cli, "remind", "subscribe", "--email", "a@b.c", code=2)
    assert "holder" in run(cli, "remind", "subscribe", "--holder", "110105194912310021", "--sms", "1380", code=2)
    assert "no department" in run(cli, "remind", "subscribe", "--department", "nowhere", "--email", "a@b.c", code=2)
    assert "--status" in run(cli, "remind", "outbox", "--status", "lost", code=2)
    assert "no subscription" in run(cli, "remind", "unsubscribe", str(uuid.uuid4()), code=1)
    company = "91350100M000100Y43"
    assert "--sms: '13800' is not a mainland mobile number" in run(
        cli, "remind", "subscribe", "--holder", company, "--sms", "13800", code=2
    )
    assert "--email" in run(cli, "remind", "subscribe", "--holder", company, "--email", "shop@localhost", code=2)
    run(cli, "remind", "subscribe", "--holder", company, "--email", "shop@example.com")
    assert json.loads(run(cli, "--json", "remind", "forget-holder", company)) == {"removed": 1}
    assert json.loads(run(cli, "--json", "remind", "subscriptions")) == []


def test_the_serve_loop_delivers_in_the_background(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, process_clock: StartedClock
) -> None:
    monkeypatch.setenv("TRUSTLEDGER_REMIND_INTERVAL", "0.2")
    region = open_region(Settings())
    loop: ServeReminders | None = None
    try:
        with webhook_server(WebhookReceiver("", process_clock)) as receiver:
            sub = json.loads(
                run(cli, "--json", "remind", "subscribe", "--department", "zz-amr", "--webhook", receiver.url)
            )
            receiver.secret = sub["secret"]
            _issue_expiring(region, 5)
            loop = ServeReminders(region)
            loop.start()
            budget = deadline(20)
            while not receiver.unique and budget:
                time.sleep(0.05)  # waiting for a background thread, not for the clock to pass
            loop.stop()
        assert len(receiver.unique) >= 1
        assert reminder_metrics(region)["outbox_sent"] >= 1
        assert OutboxStore(region.store.engine).rows(status="dead") == []
    finally:
        if loop is not None:
            loop.stop()
        region.close()
