"""The reminder scheduler on a real region (both databases): stages from the index, exactly-once recording with
several schedulers at once, skips, digests, and end-to-end delivery to real receivers including a killed worker."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from sqlalchemy import create_engine, inspect, text

from licences.application import LicenceView
from licences.catalogue.model import Channel
from reminders.delivery import DeliveryWorker, SmtpConfig, SmtpTransport, WebhookTransport
from reminders.messages import load_reminder_catalogue
from reminders.model import Month, OwnerKind, ReminderMetrics, Topic
from reminders.scheduler import ReminderScheduler
from reminders.store_outbox import OutboxStore
from reminders.store_scan import ReminderScan
from tests.conftest import BACKENDS, PG_ADMIN_URL, START, FakeClock
from tests.reminders.reminder_servers import MailBox, WebhookReceiver, smtp_server, webhook_server
from tests.samples import CITIZEN_ID, CITIZEN_NAME, COMPANY_ID, COMPANY_NAME, DRIVING, FOOD
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings

ZZ_AMR = "11410100007409378P"
CHILD = Path(__file__).with_name("reminder_delivery_child.py")
PASSPHRASE = "reminder-tests"


class RegionTemplates:
    """One initialised region per backend and test process, copied for each test (init costs ~1 s; a copy ~0.1 s).

    SQLite: the home directory (keys + database file) is copied. PostgreSQL: the home directory is copied and every
    table of the template schema copied into the test's own schema (CREATE TABLE ... LIKE + INSERT ... SELECT).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.homes: dict[str, Path] = {}
        self.schemas = [f"rt_tmpl_{uuid.uuid4().hex[:10]}"]
        self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.tables: list[str] = []

    def home(self, backend: str) -> Path:
        if backend not in self.homes:
            home = self.root / backend
            if backend == "sqlite":
                url = f"sqlite:///{home / 'trustledger.db'}"
            else:
                with self.admin.connect() as conn:
                    conn.execute(text(f"CREATE SCHEMA {self.schemas[0]}"))
                url = pg_schema_url(self.schemas[0])
            settings = Settings(home=home, database_url=url, key_passphrase=PASSPHRASE)
            init_region(settings, None, None, None, FakeClock(START)).close()
            if backend == "postgresql":
                self.tables = inspect(self.admin).get_table_names(schema=self.schemas[0])
            self.homes[backend] = home
        return self.homes[backend]

    def pg_copy(self) -> str:
        """A new schema holding a copy of the template region's tables; returns its URL."""
        template, schema = self.schemas[0], f"rt_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
            for table in self.tables:
                conn.execute(text(f"CREATE TABLE {schema}.{table} (LIKE {template}.{table} INCLUDING ALL)"))
                conn.execute(text(f"INSERT INTO {schema}.{table} SELECT * FROM {template}.{table}"))
        self.schemas.append(schema)
        return pg_schema_url(schema)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for schema in self.schemas:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        self.admin.dispose()


def pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegionTemplates]:
    t = RegionTemplates(tmp_path_factory.mktemp("region-templates"))
    yield t
    t.close()


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path, templates: RegionTemplates) -> Settings:
    backend: str = request.param
    home = tmp_path / "home"
    shutil.copytree(templates.home(backend), home)
    url = f"sqlite:///{home / 'trustledger.db'}" if backend == "sqlite" else templates.pg_copy()
    return Settings(home=home, database_url=url, key_passphrase=PASSPHRASE)


@pytest.fixture
def clock() -> FakeClock:
    # The template regions are initialised at START (token keys valid from then); the tests start a minute later.
    return FakeClock(START + timedelta(minutes=1))


@pytest.fixture
def region(settings: Settings, clock: FakeClock) -> Iterator[Region]:
    r = open_region(settings, clock)
    yield r
    r.close()


def _scheduler(region: Region, clock: FakeClock, metrics: ReminderMetrics | None = None) -> ReminderScheduler:
    catalogue = region.catalogue
    return ReminderScheduler(
        service=region.licences,
        scan=ReminderScan(region.store.engine),
        outbox=OutboxStore(region.store.engine),
        catalogue=catalogue,
        messages=load_reminder_catalogue(catalogue),
        clock=clock,
        metrics=metrics or ReminderMetrics(),
    )


def _food(region: Region, clock: FakeClock, days: float, holder: str = COMPANY_ID) -> LicenceView:
    """A 食品经营许可证 of 郑州市市场监督管理局 that expires `days` from now."""
    return region.licences.issue(
        type_code="food-business-licence",
        issuer="zz-amr",
        holder_id=holder,
        holder_name=COMPANY_NAME,
        fields=FOOD,
        valid_from=clock() - timedelta(days=400),
        valid_until=clock() + timedelta(days=days),
    )


def _reminders(region: Region, licence_id: UUID) -> list[int]:
    return [h.event["stage"] for h in region.licences.history(licence_id) if h.kind == "reminder"]


def _subscribe(region: Region, clock: FakeClock, holder: str = COMPANY_ID) -> tuple[UUID, UUID]:
    outbox = OutboxStore(region.store.engine)
    hook = outbox.subscribe(
        OwnerKind.DEPARTMENT, ZZ_AMR, Channel.WEBHOOK, "http://127.0.0.1:9/h", clock(), (Topic.REMINDER, Topic.DIGEST)
    )
    mail = outbox.subscribe(
        OwnerKind.HOLDER, region.licences.holder_digest_of(holder), Channel.EMAIL, "shop@example.com", clock()
    )
    return hook.id, mail.id


def test_each_stage_is_recorded_once_as_the_clock_moves(region: Region, clock: FakeClock) -> None:
    _subscribe(region, clock)
    far, d80, d20, d3 = (_food(region, clock, d) for d in (100, 80, 20, 3))
    scheduler = _scheduler(region, clock)
    first = scheduler.run_once()
    assert (first.due, first.recorded, first.queued) == (3, 3, 6)  # department webhook + holder e-mail each
    assert [_reminders(region, x.id) for x in (far, d80, d20, d3)] == [[], [90], [30], [7]]
    assert region.licences.get(d20.id).reminded_stage == 30
    assert scheduler.run_once().due == 0  # nothing twice
    clock.advance(days=11)  # 100 -> 89, 80 -> 69, 20 -> 9, 3 -> expired
    second = scheduler.run_once()
    assert second.recorded == 1
    assert [_reminders(region, x.id) for x in (far, d80, d20, d3)] == [[90], [90], [30], [7]]
    clock.advance(days=3)  # 20 -> 6: stage 7 opens
    assert scheduler.run_once().recorded == 1
    assert _reminders(region, d20.id) == [30, 7]
    rows = [r for r in OutboxStore(region.store.engine).rows(limit=1000) if r.kind == "reminder"]
    assert len(rows) == 5 * 2 and len({r.id for r in rows}) == 10  # 5 reminders x (webhook, e-mail)


def test_after_downtime_only_the_tightest_stage_is_sent(region: Region, clock: FakeClock) -> None:
    lic = _food(region, clock, 5)
    assert _scheduler(region, clock).run_once().recorded == 1
    assert _reminders(region, lic.id) == [7]  # 90 and 30 were missed while down: not worth sending now


def test_suspended_revoked_renewed_and_expired_licences_are_skipped(region: Region, clock: FakeClock) -> None:
    suspended, revoked, renewed, expired, due = (_food(region, clock, d) for d in (20, 20, 20, 1, 20))
    region.licences.suspend(suspended.id, actor=ZZ_AMR, reason="整改期间暂扣")
    region.licences.revoke(revoked.id, actor=ZZ_AMR, reason="申请注销")
    region.licences.renew(renewed.id, actor=ZZ_AMR)
    clock.advance(days=2)  # `expired` is past its end
    result = _scheduler(region, clock).run_once()
    assert result.recorded == 1 and result.no_recipient == 1  # recorded even with nobody subscribed yet
    assert [_reminders(region, x.id) for x in (suspended, revoked, renewed, expired, due)] == [[], [], [], [], [30]]
    # Reinstated: the stage current at that moment is sent.
    region.licences.reinstate(suspended.id, actor=ZZ_AMR, reason="整改完成")
    assert _scheduler(region, clock).run_once().recorded == 1
    assert _reminders(region, suspended.id) == [30]


def test_several_schedulers_at_once_record_one_reminder_per_licence(
    region: Region, settings: Settings, clock: FakeClock
) -> None:
    clock.advance(days=24)  # 25 January: licences expiring 10-21 days on all fall in next month, the digest's month
    _subscribe(region, clock)
    licences = [_food(region, clock, 10 + i) for i in range(12)]
    schedulers = [_scheduler(open_region(settings, clock), clock) for _ in range(4)]
    results = []
    barrier = threading.Barrier(len(schedulers))

    def run(s: ReminderScheduler) -> None:
        barrier.wait()
        results.append(s.run_once())

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.recorded for r in results) == 12
    assert sum(r.recorded + r.skipped for r in results) == sum(r.due for r in results)
    assert all(_reminders(region, lic.id) == [30] for lic in licences)
    rows = OutboxStore(region.store.engine).rows(limit=1000)
    reminders = [r for r in rows if r.kind == "reminder"]
    assert sorted((r.ref.split("/")[1], r.channel) for r in reminders) == sorted(
        (str(lic.id), ch) for lic in licences for ch in ("email", "webhook")
    )
    assert len([r for r in rows if r.kind == "digest"]) == 1  # the department's digest, once, whoever queued it
    for s in schedulers:
        s.scan.engine.dispose()


def test_messages_carry_masked_names_and_never_the_id_number(region: Region, clock: FakeClock) -> None:
    outbox = OutboxStore(region.store.engine)
    digest = region.licences.holder_digest_of(CITIZEN_ID)
    outbox.subscribe(OwnerKind.HOLDER, digest, Channel.SMS, "13800000000", clock())
    outbox.subscribe(OwnerKind.HOLDER, digest, Channel.EMAIL, "zhang@example.com", clock())  # not a driving channel
    lic = region.licences.issue(
        type_code="driving-licence",
        issuer="zz-traffic-police",
        holder_id=CITIZEN_ID,
        holder_name=CITIZEN_NAME,
        fields=DRIVING,
        valid_from=clock() - timedelta(days=2000),
        valid_until=clock() + timedelta(days=60),
    )
    assert _scheduler(region, clock).run_once().queued == 1  # SMS only: the type reminds by SMS
    (row,) = outbox.rows()
    with outbox.engine.connect() as conn:
        payload = conn.exec_driver_sql(f"SELECT payload FROM reminder_outbox WHERE id = '{row.id}'").scalar_one()
    sms = json.loads(payload)["sms"]
    assert "张*丰" in sms and "交管12123" in sms and "机动车驾驶证" in sms
    assert CITIZEN_ID not in payload and CITIZEN_NAME not in payload and lic.identifier not in sms


def test_monthly_digest_is_queued_once_per_department_and_month(region: Region, clock: FakeClock) -> None:
    _subscribe(region, clock)

    month = Month.of(clock()).next()
    inside = [_food(region, clock, (month.start - clock()).days + d) for d in (3, 10)]
    _food(region, clock, (month.end - clock()).days + 5)  # the month after: not in this digest
    scheduler = _scheduler(region, clock)
    assert scheduler.queue_digests(clock()) == 1
    assert scheduler.queue_digests(clock()) == 0  # idempotent
    (row,) = OutboxStore(region.store.engine).rows(ref=f"digest/{ZZ_AMR}/{month.key}")
    assert (row.kind, row.channel, row.month) == ("digest", "webhook", month.key)
    with region.store.engine.connect() as conn:
        payload = conn.exec_driver_sql(f"SELECT payload FROM reminder_outbox WHERE id = '{row.id}'").scalar_one()
    doc = json.loads(payload)
    assert doc["data"]["total"] == 2
    assert {x["identifier"] for x in doc["data"]["licences"]} == {lic.identifier for lic in inside}
    assert f"{month.label}到期证照2件" in doc["subject"]


def test_end_to_end_webhook_and_email(region: Region, clock: FakeClock) -> None:
    outbox = OutboxStore(region.store.engine)
    with webhook_server(WebhookReceiver("", clock)) as receiver, smtp_server(MailBox()) as mailbox:
        hook = outbox.subscribe(OwnerKind.DEPARTMENT, ZZ_AMR, Channel.WEBHOOK, receiver.url, clock())
        receiver.secret = hook.secret or ""
        digest = region.licences.holder_digest_of(COMPANY_ID)
        outbox.subscribe(OwnerKind.HOLDER, digest, Channel.EMAIL, "shop@example.com", clock())
        lic = _food(region, clock, 6)
        assert _scheduler(region, clock).run_once().queued == 2
        config = SmtpConfig(mailbox.host, mailbox.port, "reminders@ledger.ha.gov.example", timeout=5)
        transports = {Channel.WEBHOOK: WebhookTransport(timeout=5), Channel.EMAIL: SmtpTransport(config)}
        worker = DeliveryWorker(outbox, transports, clock=clock, metrics=ReminderMetrics())  # type: ignore[arg-type]
        assert worker.run_once().sent == 2
        worker.close()
    (doc,) = receiver.unique.values()
    assert doc["data"]["licence_id"] == str(lic.id) and doc["data"]["stage"] == 7 and doc["kind"] == "reminder"
    (mail,) = mailbox.messages
    assert mail["Subject"].startswith("【河南省电子证照】紧急：您的食品经营许可证")
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "郑州**有限公司" in body.get_content() and COMPANY_NAME not in body.get_content()
    assert outbox.counts()["sent"] == 2


def test_killed_delivery_worker_loses_nothing_and_the_receiver_sees_each_once(
    region: Region, settings: Settings, clock: FakeClock
) -> None:
    outbox = OutboxStore(region.store.engine)
    receiver = WebhookReceiver("", clock, block_on=6)
    with webhook_server(receiver):
        hook = outbox.subscribe(OwnerKind.DEPARTMENT, ZZ_AMR, Channel.WEBHOOK, receiver.url, clock())
        receiver.secret = hook.secret or ""
        licences = [_food(region, clock, 10 + i) for i in range(20)]
        assert _scheduler(region, clock).run_once().queued == 20
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
        child = subprocess.Popen(
            [sys.executable, str(CHILD), settings.database_url, clock().isoformat(), "120"],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert receiver.arrived.wait(60), "the child never reached the 6th delivery"
        child.send_signal(signal.SIGKILL)  # mid-batch: delivery 6 is in flight, 14 more are leased to the child
        child.wait()
        receiver.release.set()
        assert child.stdout is not None and child.stdout.read() == ""
        counts = outbox.counts()
        assert (counts["sent"], counts["pending"]) == (5, 15)
        # Within the child's lease nobody else may take its rows; once it runs out, another worker does.
        worker = DeliveryWorker(outbox, {Channel.WEBHOOK: WebhookTransport(timeout=5)}, clock=clock)
        assert worker.run_once().claimed == 0
        clock.advance(seconds=121)
        assert worker.run_once().sent == 15
        worker.close()
    all_ids = {str(r.id) for r in outbox.rows(limit=100)}
    assert outbox.counts()["sent"] == 20
    assert set(receiver.unique) == all_ids  # no reminder lost
    assert len(receiver.raw) == 21  # the one in flight when killed arrived twice ...
    duplicates = [i for i in all_ids if [r[0] for r in receiver.raw].count(i) > 1]
    assert len(duplicates) == 1  # ... and the receiver's de-duplication on the delivery id makes it once
    assert all(_reminders(region, lic.id) == [30] for lic in licences)
