"""Under contention a request is served or told to retry: 503 problem+json with Retry-After, nothing written."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from tests.verify_api.conftest import DRIVING, PUBLIC_BASE, Citizen, Keys, driving_fields, reopen
from trustledger.region import Region
from trustledger.settings import Settings
from verify_api.client import ApiProblem, TrustLedgerClient
from verify_api.problems import PROBLEM_MEDIA_TYPE


@pytest.fixture
def region(region_template: Path, tmp_path: Path, api_clock: FakeClock) -> Iterator[Region]:
    """A region whose writer waits at most 0.3 s and queues one writer (overrides the package fixture)."""
    home = tmp_path / "home"
    shutil.copytree(region_template, home)
    s = Settings(
        home=home,
        database_url=f"sqlite:///{home / 'trustledger.db'}",
        public_base_url=PUBLIC_BASE,
        public_rate_limit=0,
        write_lock_timeout=0.3,
        write_queue=1,
        retry_after_seconds=2,
    )
    r = reopen(s, api_clock)
    yield r
    r.close()


def _hold_writer(region: Region, holding: threading.Event, release: threading.Event) -> None:
    with region.store.write():
        holding.set()
        release.wait(30)


def test_a_writer_that_cannot_get_the_log_gets_503_with_retry_after(
    http: TestClient, keys: Keys, citizen: Citizen, region: Region
) -> None:
    size = region.store.size()
    holding, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_writer, args=(region, holding, release), daemon=True)
    holder.start()
    assert holding.wait(30)
    try:
        body = {
            "type_code": DRIVING,
            "holder_id": citizen.id_number,
            "holder_name": citizen.name,
            "fields": driving_fields(),
        }
        answer = http.post("/v1/licences", json=body, headers={"Authorization": f"Bearer {keys.issuer}"})
    finally:
        release.set()
        holder.join(30)
    assert answer.status_code == 503
    assert answer.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert answer.headers["retry-after"] == "2"
    problem = answer.json()
    assert problem["type"].endswith("/busy") and problem["status"] == 503
    assert region.store.size() == size  # nothing half-written
    # Once the writer is free the same request goes through.
    again = http.post("/v1/licences", json=body, headers={"Authorization": f"Bearer {keys.issuer}"})
    assert again.status_code == 201, again.text
    assert region.store.size() == size + 1


def _busy_then_ok(answers: list[httpx.Response]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    return httpx.MockTransport(handler)


def _busy(retry_after: str) -> httpx.Response:
    problem = {"type": "https://trustledger.example/problems/busy", "title": "busy", "status": 503, "detail": "busy"}
    return httpx.Response(503, json=problem, headers={"Retry-After": retry_after})


def test_the_client_waits_as_told_and_retries() -> None:
    ok = httpx.Response(200, json={"status": "ok", "database": "ok", "region": "410000", "origin": "x/log"})
    waits: list[float] = []
    transport = _busy_then_ok([_busy("1"), _busy("2"), ok])
    with httpx.Client(base_url="http://ledger.test", transport=transport) as http:
        health = TrustLedgerClient(http=http, sleep=waits.append).health()
    assert waits == [1.0, 2.0]
    assert health.status == "ok"


def test_the_client_gives_up_after_its_retries_and_on_an_unusable_retry_after() -> None:
    waits: list[float] = []
    transport = _busy_then_ok([_busy("1")] * 3)
    with httpx.Client(base_url="http://ledger.test", transport=transport) as http, pytest.raises(ApiProblem) as caught:
        TrustLedgerClient(http=http, retries=2, sleep=waits.append).health()
    assert caught.value.status == 503 and waits == [1.0, 1.0]
    for unusable in ("soon", "-1", "3600", "1.5"):  # not delay-seconds, or longer than the client waits
        waits.clear()
        transport = _busy_then_ok([_busy(unusable)])
        with httpx.Client(base_url="http://ledger.test", transport=transport) as http, pytest.raises(ApiProblem):
            TrustLedgerClient(http=http, sleep=waits.append).health()
        assert waits == []
