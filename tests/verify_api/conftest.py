"""Fixtures for the API tests: a region in tmp_path on each database, the app, one API key per role, licences."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from demo.synthetic import SyntheticHolders
from tests.conftest import START, FakeClock
from tests.samples import person_fields
from tests.support import deadline
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings
from verify_api.apikeys import Role
from verify_api.app import create_app
from verify_api.client import TrustLedgerClient
from verify_api.schemas import LicenceOut
from verify_api.store import ApiKeyStore

PUBLIC_BASE = "https://verify.ha.gov.example"
DRIVING = "11100000001407312X001"  # 机动车驾驶证: citizens, by zz-traffic-police, 6 years, renewal window 90 days
BUSINESS = "11100000000013338W001"  # 营业执照: organisations, by ha-amr / zz-amr / jinshui-amr, no expiry


@pytest.fixture
def api_clock() -> FakeClock:
    """A hand-moved clock a minute after the instant the regions are initialised at (`START`)."""
    return FakeClock(START + timedelta(minutes=1))


def make_region(home: Path, db_url: str, clock: FakeClock, **settings: object) -> Region:
    """Initialise a region (catalogue, token keys) at `START`, then open it on the fake clock."""
    s = Settings(home=home, database_url=db_url, public_base_url=PUBLIC_BASE, public_rate_limit=0, **settings)
    init_region(s, None, None, None, FakeClock(START)).close()
    return reopen(s, clock)


def reopen(settings: Settings, clock: FakeClock) -> Region:
    """Open an initialised region on the fake clock."""
    return open_region(settings, clock)


@pytest.fixture(scope="session")
def region_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised SQLite region home per test session; each test gets a copy (init takes ~1 s, a copy ~10 ms)."""
    home = tmp_path_factory.mktemp("region-template") / "home"
    make_region(home, f"sqlite:///{home / 'trustledger.db'}", FakeClock(START)).close()
    return home


@pytest.fixture
def region(region_template: Path, tmp_path: Path, api_clock: FakeClock) -> Iterator[Region]:
    """A fresh SQLite region (API tests; storage contracts run on both databases in their own tests)."""
    home = tmp_path / "home"
    shutil.copytree(region_template, home)
    s = Settings(
        home=home, database_url=f"sqlite:///{home / 'trustledger.db'}", public_base_url=PUBLIC_BASE, public_rate_limit=0
    )
    r = reopen(s, api_clock)
    yield r
    r.close()


@pytest.fixture
def region_on_each_db(db_url: str, tmp_path: Path, api_clock: FakeClock) -> Iterator[Region]:
    """A region on each database backend (SQLite file, PostgreSQL schema), fully initialised."""
    r = make_region(tmp_path / "home-db", db_url, api_clock)
    yield r
    r.close()


@pytest.fixture
def http(region: Region) -> Iterator[TestClient]:
    with TestClient(create_app(region), raise_server_exceptions=False) as c:
        yield c


@dataclass(frozen=True)
class Keys:
    """One API key per role (the issuer is the traffic police, which issues driving licences)."""

    issuer: str
    other_issuer: str
    verifier: str
    auditor: str
    operator: str

    def of(self, role: str) -> str | None:
        return getattr(self, role, None)


@pytest.fixture
def keys(region: Region) -> Keys:
    store = ApiKeyStore(region.store.engine)
    now = region.clock()
    police = region.catalogue.department("zz-traffic-police").uscc
    amr = region.catalogue.department("ha-amr").uscc
    return Keys(
        issuer=store.create(Role.ISSUER, police, "police", now).key,
        other_issuer=store.create(Role.ISSUER, amr, "amr", now).key,
        verifier=store.create(Role.VERIFIER, "郑州市一网通办审批系统", "", now).key,
        auditor=store.create(Role.AUDITOR, "省审计厅", "", now).key,
        operator=store.create(Role.OPERATOR, "ops", "", now).key,
    )


def client_for(http: TestClient, key: str | None) -> TrustLedgerClient:
    """The typed client over the test transport, with `key`."""
    return TrustLedgerClient(http=http, api_key=key)


@dataclass(frozen=True)
class Citizen:
    name: str
    id_number: str


@pytest.fixture
def citizen() -> Citizen:
    c = SyntheticHolders(seed=6).citizen()
    return Citizen(c.name, c.id_number)


def driving_fields(holder_id: str | None = None) -> dict[str, str | int]:
    """A driving licence's fields; sex and date of birth as `holder_id` (default: the `citizen` fixture's) encodes."""
    number = SyntheticHolders(seed=6).citizen().id_number if holder_id is None else holder_id
    return {
        **person_fields(number),
        "address": "郑州市金水区花园路1号",
        "first_issued_on": "2010-05-01",
        "vehicle_class": "C1",
    }


@pytest.fixture
def licence(http: TestClient, keys: Keys, citizen: Citizen) -> LicenceOut:
    """A driving licence issued through the API."""
    return client_for(http, keys.issuer).issue(
        type_code=DRIVING, holder_id=citizen.id_number, holder_name=citizen.name, fields=driving_fields()
    )


@pytest.fixture
def live(region: Region) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port, in a thread (for a browser or an HTTP fuzzer)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(region), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    budget = deadline(10)
    while not server.started:
        assert budget, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
