"""Licences at the calendar edges (1st of a month, 29 February, New Year in China while UTC is still in December):
reminder stages and their message dates, the monthly digest's China-time month, renewal windows, the serial's year,
the validity rule on 29 February, and token-key validity. Every expected value is written out by hand."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import create_engine, text

from demo.synthetic import SyntheticHolders
from licences.application import LicenceView
from licences.catalogue.model import Channel
from licences.errors import RegistryError, RenewalNotAllowedError
from reminders.messages import load_reminder_catalogue
from reminders.model import OwnerKind, ReminderMetrics, Topic
from reminders.scheduler import ReminderScheduler
from reminders.store_outbox import OutboxStore
from reminders.store_scan import ReminderScan
from signatures.errors import VerificationError
from signatures.keyring import check_key_valid_at
from tests.calendar_instants import INSTANTS, NEW_YEAR_IN_CHINA, each_instant, init_home
from tests.conftest import BACKENDS, PG_ADMIN_URL, FakeClock
from tests.samples import CITIZEN_ID, CITIZEN_NAME, COMPANY_ID, COMPANY_NAME, DRIVING, FOOD, person_fields
from trustledger.region import Region, open_region
from trustledger.settings import Settings

pytestmark = pytest.mark.calendar

ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局: reminders, renewals, serials
JINSHUI_AMR = "11410105004277269C"  # 郑州市金水区市场监督管理局: the digest (its own department, its own month)
TRAFFIC_POLICE = "11410100003615377U"  # 郑州市公安局交通管理支队: driving licences, 6 years
DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


def at(text: str) -> datetime:
    """A UTC instant written as `2027-03-31T16:00:00` (the tables below are easier to check in this form)."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Homes:
    """One region initialised per (instant, backend) and test module; each test opens it on a fresh FakeClock.

    Tests sharing a region keep apart by department (the digest) or look only at their own licences.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings: dict[tuple[datetime, str], Settings] = {}
        self.schemas: list[str] = []

    def get(self, instant: datetime, backend: str) -> Settings:
        if (instant, backend) not in self.settings:
            home = self.root / f"{backend}-{instant:%Y%m%dT%H%M}"
            if backend == "sqlite":
                url = f"sqlite:///{home / 'trustledger.db'}"
            else:
                schema = f"cal_{uuid.uuid4().hex[:12]}"
                self._admin(f"CREATE SCHEMA {schema}")
                self.schemas.append(schema)
                url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
            self.settings[(instant, backend)] = init_home(home, url, instant)
        return self.settings[(instant, backend)]

    def _admin(self, *statements: str) -> None:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
        admin.dispose()

    def close(self) -> None:
        if self.schemas:
            self._admin(*(f"DROP SCHEMA IF EXISTS {s} CASCADE" for s in self.schemas))


@pytest.fixture(scope="module")
def homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Homes]:
    h = Homes(tmp_path_factory.mktemp("calendar-homes"))
    yield h
    h.close()


OpenAt = Callable[..., tuple[Region, FakeClock]]


@pytest.fixture
def open_at(homes: Homes) -> Iterator[OpenAt]:
    """`open_at(instant, backend="sqlite")`: the region initialised at `instant`, on a FakeClock standing there."""
    opened: list[Region] = []

    def _open(instant: datetime, backend: str = "sqlite") -> tuple[Region, FakeClock]:
        clock = FakeClock(instant)
        region = open_region(homes.get(instant, backend), clock)
        opened.append(region)
        return region, clock

    yield _open
    for region in opened:
        region.close()


def _food(region: Region, until: datetime, issuer: str = ZZ_AMR, holder: str = COMPANY_ID) -> LicenceView:
    return region.licences.issue(
        type_code="food-business-licence",
        issuer=issuer,
        holder_id=holder,
        holder_name=COMPANY_NAME,
        fields=FOOD,
        valid_from=region.clock() - 400 * DAY,
        valid_until=until,
    )


def _driving(region: Region, valid_from: datetime | None = None, holder: str = CITIZEN_ID) -> LicenceView:
    """A driving licence; a person holds one at a time, so a test on a shared region passes its own `holder`."""
    return region.licences.issue(
        type_code="driving-licence",
        issuer="zz-traffic-police",
        holder_id=holder,
        holder_name=CITIZEN_NAME,
        fields={**DRIVING, **person_fields(holder)},
        valid_from=valid_from,
    )


def _scheduler(region: Region, clock: FakeClock, *, digests: bool) -> ReminderScheduler:
    catalogue = region.catalogue
    return ReminderScheduler(
        service=region.licences,
        scan=ReminderScan(region.store.engine),
        outbox=OutboxStore(region.store.engine),
        catalogue=catalogue,
        messages=load_reminder_catalogue(catalogue),
        clock=clock,
        digests=digests,
        metrics=ReminderMetrics(),
    )


def _stages(region: Region, licence_id: UUID) -> list[int]:
    return [h.event["stage"] for h in region.licences.history(licence_id) if h.kind == "reminder"]


def _payloads(region: Region, ref_prefix: str) -> list[dict[str, Any]]:
    query = text("SELECT payload FROM reminder_outbox WHERE ref LIKE :prefix ORDER BY ref")
    with region.store.engine.connect() as conn:
        rows = conn.execute(query, {"prefix": ref_prefix + "%"}).all()
    return [json.loads(r[0]) for r in rows]


# -- Reminder stages ---------------------------------------------------------------------------------------------------

# The China-time date of `instant + 30 days` and of `instant + 7 days`, as the reminder messages print it.
STAGE_DATES = {
    "first-of-month": ("2027年3月31日", "2027年3月8日"),
    "leap-day": ("2028年3月30日", "2028年3月7日"),  # 29 February + 30 days: 30 March
    "new-year-in-china": ("2028年1月31日", "2028年1月8日"),  # 30 January 18:00 UTC is 31 January in China
}


@each_instant(STAGE_DATES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_reminder_stages_and_their_dates(
    open_at: OpenAt, instant: datetime, expected: tuple[str, str], backend: str
) -> None:
    region, clock = open_at(instant, backend)
    # Stage s's window opens exactly s days before the end: 90 days is stage 90, 90 days and a second is too early.
    leads = [100 * DAY, 90 * DAY + SECOND, 90 * DAY, 30 * DAY, 20 * DAY, 7 * DAY, 3 * DAY]
    want = [[], [], [90], [30], [30], [7], [7]]
    licences = [_food(region, instant + lead) for lead in leads]
    OutboxStore(region.store.engine).subscribe(
        OwnerKind.DEPARTMENT, ZZ_AMR, Channel.WEBHOOK, "http://127.0.0.1:9/h", instant, (Topic.REMINDER,)
    )
    _scheduler(region, clock, digests=False).run_once()
    assert [_stages(region, lic.id) for lic in licences] == want
    thirty, seven = licences[3], licences[5]
    for licence, days, zh in ((thirty, 30, expected[0]), (seven, 7, expected[1])):
        (payload,) = [p for p in _payloads(region, f"reminder/{licence.id}/") if p["data"]["stage"] == days]
        assert payload["data"]["days_left"] == days
        assert payload["data"]["valid_until"] == (instant + days * DAY).isoformat()
        assert f"将于{zh}到期" in payload["subject"] and f"将于{zh}到期" in payload["text"]


# -- Monthly digests ---------------------------------------------------------------------------------------------------

# The digest a scheduler queues at `instant` is of NEXT month in China time: key, label, and its UTC bounds
# [start, end); then the China dates of its first and last second.
DIGESTS = {
    # 08:30 on 1 March in China: April's digest.
    "first-of-month": ("2027-04", "2027年4月", at("2027-03-31T16:00:00"), at("2027-04-30T16:00:00"), "2027年4月1日",
                       "2027年4月30日"),
    # 20:00 on 29 February: March's digest, from 00:00 on 1 March in China (still 29 February in UTC).
    "leap-day": ("2028-03", "2028年3月", at("2028-02-29T16:00:00"), at("2028-03-31T16:00:00"), "2028年3月1日",
                 "2028年3月31日"),
    # 02:00 on 1 January 2028 in China (UTC is still in December 2027): February 2028's digest, 29 days long.
    "new-year-in-china": ("2028-02", "2028年2月", at("2028-01-31T16:00:00"), at("2028-02-29T16:00:00"),
                          "2028年2月1日", "2028年2月29日"),
}  # fmt: skip


@each_instant(DIGESTS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_digest_is_of_next_month_in_china_time(
    open_at: OpenAt, instant: datetime, expected: tuple[Any, ...], backend: str
) -> None:
    key, label, start, end, first_day, last_day = expected
    region, clock = open_at(instant, backend)
    outbox = OutboxStore(region.store.engine)
    outbox.subscribe(
        OwnerKind.DEPARTMENT, JINSHUI_AMR, Channel.WEBHOOK, "http://127.0.0.1:9/d", instant, (Topic.DIGEST,)
    )
    ends = [start - SECOND, start, end - SECOND, end]  # only the middle two are in the month
    licences = [_food(region, until, issuer="jinshui-amr") for until in ends]
    scheduler = _scheduler(region, clock, digests=True)
    assert scheduler.queue_digests(clock()) == 1
    assert scheduler.queue_digests(clock()) == 0  # once per department and month
    (row,) = outbox.rows(ref=f"digest/{JINSHUI_AMR}/{key}")
    assert (row.kind, row.month) == ("digest", key)
    (doc,) = _payloads(region, f"digest/{JINSHUI_AMR}/")
    assert doc["data"]["month"] == key and doc["data"]["total"] == 2
    assert [x["identifier"] for x in doc["data"]["licences"]] == [licences[1].identifier, licences[2].identifier]
    assert [x["valid_until"] for x in doc["data"]["licences"]] == [start.isoformat(), (end - SECOND).isoformat()]
    assert doc["subject"] == f"【证照到期月报】郑州市金水区市场监督管理局：{label}到期证照2件"
    assert f"/ {first_day}" in doc["text"] and f"/ {last_day}" in doc["text"]


# -- Renewal windows and the validity rule -----------------------------------------------------------------------------

# A food business licence (5 years, renewal window 90 days) ending exactly 90 days after `instant`: its end, and the
# end after renewing at `instant` (the old end + 5 years).
RENEWALS = {
    "first-of-month": (at("2027-05-30T00:30:00"), at("2032-05-30T00:30:00")),
    "leap-day": (at("2028-05-29T12:00:00"), at("2033-05-29T12:00:00")),
    "new-year-in-china": (at("2028-03-30T18:00:00"), at("2033-03-30T18:00:00")),
}


@each_instant(RENEWALS)
def test_the_renewal_window_opens_exactly_90_days_before_the_end(
    open_at: OpenAt, instant: datetime, expected: tuple[datetime, datetime]
) -> None:
    region, _ = open_at(instant)
    old_end, new_end = expected
    assert instant + 90 * DAY == old_end
    inside, outside = _food(region, old_end), _food(region, old_end + SECOND)
    renewed = region.licences.renew(inside.id, actor=ZZ_AMR)
    assert (renewed.licence_version, renewed.valid_from, renewed.valid_until) == (2, instant, new_end)
    with pytest.raises(RenewalNotAllowedError, match="renewal opens 90 days before expiry"):
        region.licences.renew(outside.id, actor=ZZ_AMR)


def test_a_licence_ending_on_29_february_in_china_ends_on_28_february_five_years_on(open_at: OpenAt) -> None:
    """No 29 February in 2033: the end moves to 28 February in China time (民法典 §203: no such day → the month's
    last day), whether 29 February in China is still the 28th in UTC (01:00) or not (20:00)."""
    region, _ = open_at(NEW_YEAR_IN_CHINA)  # 60 days before 29 February 2028: inside the window
    early, late = _food(region, at("2028-02-28T17:00:00")), _food(region, at("2028-02-29T12:00:00"))
    # 01:00 and 20:00 on 29 February 2028 in China -> the same hours on 28 February 2033 in China.
    assert region.licences.renew(early.id, actor=ZZ_AMR).valid_until == at("2033-02-27T17:00:00")
    assert region.licences.renew(late.id, actor=ZZ_AMR).valid_until == at("2033-02-28T12:00:00")


# A driving licence (6 years) issued at `instant` without an explicit end: valid until `instant` + 6 years.
DRIVING_ENDS = {
    "first-of-month": at("2033-03-01T00:30:00"),
    "leap-day": at("2034-02-28T12:00:00"),  # no 29 February in 2034
    "new-year-in-china": at("2033-12-31T18:00:00"),  # 02:00 on 1 January 2034 in China
}


@each_instant(DRIVING_ENDS)
def test_the_validity_rule_counts_years_on_the_china_calendar(
    open_at: OpenAt, instant: datetime, expected: datetime
) -> None:
    region, _ = open_at(instant)
    assert _driving(region).valid_until == expected


# -- Serial numbers ----------------------------------------------------------------------------------------------------

# The year a licence's serial starts with is the year in China when it is issued (年度流水号).
SERIAL_YEARS = {"first-of-month": "2027", "leap-day": "2028", "new-year-in-china": "2028"}


@each_instant(SERIAL_YEARS)
def test_the_serial_starts_with_the_year_in_china(open_at: OpenAt, instant: datetime, expected: str) -> None:
    region, _ = open_at(instant)
    serial = _driving(region, holder=SyntheticHolders(seed=11).citizen().id_number).identifier.split(".")[7]
    assert serial.startswith(expected) and len(serial) == 11


# -- Token keys --------------------------------------------------------------------------------------------------------


@each_instant()
def test_token_keys_are_valid_from_the_instant_they_were_registered(open_at: OpenAt, instant: datetime) -> None:
    region, clock = open_at(instant)
    (key,) = region.registry.keys_of(TRAFFIC_POLICE)
    assert (key.not_before, key.not_after, key.retired_at) == (instant, None, None)
    check_key_valid_at(key, instant)
    with pytest.raises(VerificationError):
        check_key_valid_at(key, instant - SECOND)
    with pytest.raises(RegistryError, match="no token key valid now"):
        region.registry.token_signer(TRAFFIC_POLICE, instant - SECOND)
    assert region.registry.token_signer(TRAFFIC_POLICE, instant)[0].kid == key.kid
    # Rotated a day later (the next calendar day in China too): the old key signed until then, the new one from then.
    clock.advance(days=1)
    new = region.registry.rotate_token_key(TRAFFIC_POLICE)
    old = next(k for k in region.registry.keys_of(TRAFFIC_POLICE) if k.kid == key.kid)
    assert (old.retired_at, new.not_before) == (instant + DAY, instant + DAY)
    check_key_valid_at(old, instant + DAY - SECOND)
    with pytest.raises(VerificationError):
        check_key_valid_at(old, instant + DAY)
    assert region.registry.token_signer(TRAFFIC_POLICE, instant + DAY)[0].kid == new.kid


def test_the_instants_are_the_calendar_edges() -> None:
    """In China time: 08:30 on 1 March, 20:00 on 29 February, 02:00 on 1 January (UTC still in 2027)."""
    china = [(moment + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M") for moment in INSTANTS.values()]
    assert china == ["2027-03-01 08:30", "2028-02-29 20:00", "2028-01-01 02:00"]
