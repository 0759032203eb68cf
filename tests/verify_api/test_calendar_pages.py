"""What citizens and verifiers read at the calendar edges: the scan page's dates are China calendar dates, a licence
expires on the second, and the trust list's `next_update` (payload and `Expires`) is issued_at + 24 h. Every expected
value is written out by hand."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from demo.synthetic import SyntheticHolders
from licences.application import LicenceView
from signatures.errors import VerificationError
from signatures.trustlist import verify_trust_list
from tests.calendar_instants import each_instant, init_home
from tests.conftest import FakeClock
from tests.samples import person_fields
from trustledger.region import Region, open_region
from trustledger.settings import Settings
from verify_api.app import create_app

pytestmark = pytest.mark.calendar

PUBLIC_BASE = "https://verify.ha.gov.example"
CITIZEN_NAME = "张三丰"
DRIVING = {
    "sex": "女",  # replaced by what the holder's ID number encodes
    "address": "郑州市金水区花园路2号",
    "date_of_birth": "1949-12-31",
    "first_issued_on": "2020-01-02",
    "vehicle_class": "C1",
}


HomeAt = Callable[[datetime], Settings]


@pytest.fixture(scope="module")
def home_at(tmp_path_factory: pytest.TempPathFactory) -> HomeAt:
    """The SQLite region home initialised at an instant: made on first use, one per instant and module."""
    homes: dict[datetime, Settings] = {}

    def _home(instant: datetime) -> Settings:
        if instant not in homes:
            home = tmp_path_factory.mktemp("calendar-pages") / "home"
            url = f"sqlite:///{home / 'trustledger.db'}"
            homes[instant] = init_home(home, url, instant, public_base_url=PUBLIC_BASE, public_rate_limit=0)
        return homes[instant]

    return _home


@pytest.fixture
def site(instant: datetime, home_at: HomeAt) -> Iterator[tuple[Region, FakeClock, TestClient]]:
    """The region initialised at the test's `instant`, on a FakeClock standing there, and its app."""
    clock = FakeClock(instant)
    region = open_region(home_at(instant), clock)
    with TestClient(create_app(region), raise_server_exceptions=False) as http:
        yield region, clock, http
    region.close()


_DRIVERS = SyntheticHolders(seed=4711)  # a person holds one driving licence at a time: one person per licence


def _driving(region: Region, valid_until: datetime | None = None) -> LicenceView:
    holder_id = _DRIVERS.citizen().id_number
    return region.licences.issue(
        type_code="driving-licence",
        issuer="zz-traffic-police",
        holder_id=holder_id,
        holder_name=CITIZEN_NAME,
        fields={**DRIVING, **person_fields(holder_id)},
        valid_until=valid_until,
    )


# -- The scan page -----------------------------------------------------------------------------------------------------

# A driving licence (6 years) issued at `instant`, as the page prints its validity: China calendar dates.
PAGE_DATES = {
    "first-of-month": ("2027年03月01日", "2033年03月01日"),
    "leap-day": ("2028年02月29日", "2034年02月28日"),  # no 29 February in 2034
    "new-year-in-china": ("2028年01月01日", "2034年01月01日"),  # UTC: 31 December 2027 to 31 December 2033
}


@each_instant(PAGE_DATES)
def test_the_scan_page_prints_china_calendar_dates(
    site: tuple[Region, FakeClock, TestClient], instant: datetime, expected: tuple[str, str]
) -> None:
    region, _, http = site
    licence = _driving(region)
    page = http.get(f"/v/{licence.token}")
    assert page.status_code == 200 and 'data-verdict="valid"' in page.text
    valid_from, valid_until = expected
    validity = page.text.split('<dd id="validity">', 1)[1].split("</dd>", 1)[0]
    assert " ".join(validity.split()) == f"{valid_from} 至 {valid_until}"
    answer = http.get("/v1/public/verify", params={"token": licence.token}).json()
    assert answer["verdict"] == "valid"
    assert datetime.fromisoformat(answer["licence"]["valid_from"]) == instant


# A licence that ends one hour after `instant`: the China date of its last day on the page.
LAST_DAYS = {
    "first-of-month": "2027年03月01日",
    "leap-day": "2028年02月29日",
    "new-year-in-china": "2028年01月01日",
}


@each_instant(LAST_DAYS)
def test_a_licence_expires_on_the_second_at_the_edge(
    site: tuple[Region, FakeClock, TestClient], instant: datetime, expected: str
) -> None:
    region, clock, http = site
    licence = _driving(region, valid_until=instant + timedelta(hours=1))
    assert expected in http.get(f"/v/{licence.token}").text
    clock.advance(minutes=59, seconds=59)
    assert 'data-verdict="valid"' in http.get(f"/v/{licence.token}").text
    clock.advance(seconds=1)
    page = http.get(f"/v/{licence.token}").text
    assert 'data-verdict="expired"' in page and "已过期" in page


# -- The trust list ----------------------------------------------------------------------------------------------------

# The first version at `instant`: issued_at, next_update (24 h on) and its `Expires` header; then the version a
# request twelve hours later publishes (half-way to next_update) with its own issued_at and next_update.
TRUST_LISTS = {
    "first-of-month": (
        ("2027-03-01T00:30:00Z", "2027-03-02T00:30:00Z", "Tue, 02 Mar 2027 00:30:00 GMT"),
        ("2027-03-01T12:30:00Z", "2027-03-02T12:30:00Z"),
    ),
    "leap-day": (
        ("2028-02-29T12:00:00Z", "2028-03-01T12:00:00Z", "Wed, 01 Mar 2028 12:00:00 GMT"),
        ("2028-03-01T00:00:00Z", "2028-03-02T00:00:00Z"),
    ),
    "new-year-in-china": (
        ("2027-12-31T18:00:00Z", "2028-01-01T18:00:00Z", "Sat, 01 Jan 2028 18:00:00 GMT"),
        ("2028-01-01T06:00:00Z", "2028-01-02T06:00:00Z"),
    ),
}


@each_instant(TRUST_LISTS)
def test_the_trust_list_next_update_is_a_day_on(
    site: tuple[Region, FakeClock, TestClient], instant: datetime, expected: tuple[tuple[str, ...], tuple[str, ...]]
) -> None:
    region, clock, http = site
    (issued_at, next_update, expires), (issued_at_2, next_update_2) = expected
    root = region.keys.load("root")
    assert isinstance(root, Ed25519PrivateKey)
    first = http.get("/v1/trust-list")
    doc = json.loads(first.content)
    assert (doc["payload"]["issued_at"], doc["payload"]["next_update"]) == (issued_at, next_update)
    assert first.headers["expires"] == expires
    assert first.headers["cache-control"] == "public, max-age=300, must-revalidate"
    trusted = verify_trust_list(doc, root.public_key(), _utc(next_update) - timedelta(seconds=1))
    with pytest.raises(VerificationError, match=f"trust list stale: next update was due {next_update}"):
        verify_trust_list(doc, root.public_key(), _utc(next_update))
    clock.advance(hours=12)  # half-way: the next request publishes a fresh version
    second = json.loads(http.get("/v1/trust-list").content)
    assert second["payload"]["version"] == trusted.version + 1
    assert (second["payload"]["issued_at"], second["payload"]["next_update"]) == (issued_at_2, next_update_2)
    verify_trust_list(second, root.public_key(), clock(), previous=trusted)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
