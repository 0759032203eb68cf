"""GET /v1/trust-list and /v1/trust-list/{version} (DESIGN §6): signed bytes as published, cache headers, 404s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient

from signatures.trustlist import parse_signed_trust_list, verify_trust_list
from tests.conftest import FakeClock
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings
from verify_api.app import create_app


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Region, FakeClock]]:
    settings = Settings(home=tmp_path / "home", database_url=db_url)
    clock = FakeClock()
    init_region(settings, None, None, None, clock).close()
    clock.advance(hours=1)
    region = open_region(settings, clock)
    with TestClient(create_app(region)) as client:
        yield client, region, clock
    region.close()


def _root(region: Region) -> Ed25519PrivateKey:
    key = region.keys.load("root")
    assert isinstance(key, Ed25519PrivateKey)
    return key


def test_current_list_is_signed_and_revalidates(world: tuple[TestClient, Region, FakeClock]) -> None:
    client, region, clock = world
    response = client.get("/v1/trust-list")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    doc = verify_trust_list(parse_signed_trust_list(response.content), _root(region).public_key(), clock.now)
    assert doc.version == 1 and response.headers["x-trust-list-version"] == "1"
    assert response.headers["etag"] == f'"{doc.digest()}"'
    assert response.headers["cache-control"] == "public, max-age=300, must-revalidate"
    assert "GMT" in response.headers["expires"]
    again = client.get("/v1/trust-list", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert client.get("/v1/trust-list", headers={"If-None-Match": '"other"'}).status_code == 200


def test_versions_are_served_forever_byte_for_byte(world: tuple[TestClient, Region, FakeClock]) -> None:
    client, region, clock = world
    first = client.get("/v1/trust-list").content
    clock.advance(seconds=1)
    region.registry.rotate_token_key(region.registry.issuers()[0].uscc)
    assert client.get("/v1/trust-list").content == first  # served from the 5-second cache
    clock.advance(seconds=3)
    assert client.get("/v1/trust-list").content == first  # still cached: the cache ages on the region's clock
    clock.advance(seconds=1)  # 5 seconds after the list was read
    second = client.get("/v1/trust-list")
    assert second.headers["x-trust-list-version"] == "2"
    old = client.get("/v1/trust-list/1")
    assert old.status_code == 200 and old.content == first
    assert old.headers["cache-control"] == "public, max-age=31536000, immutable"
    previous = verify_trust_list(parse_signed_trust_list(first), _root(region).public_key(), clock.now)
    verify_trust_list(parse_signed_trust_list(second.content), _root(region).public_key(), clock.now, previous)


@pytest.mark.parametrize(("path", "status"), [("/v1/trust-list/7", 404), ("/v1/trust-list/0", 422)])
def test_unknown_or_bad_versions_are_problems(
    world: tuple[TestClient, Region, FakeClock], path: str, status: int
) -> None:
    client, _, _ = world
    client.get("/v1/trust-list")
    response = client.get(path)
    assert response.status_code == status
    if status == 404:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "trust list version 7 has not been published"
    assert client.get("/v1/trust-list/abc").status_code == 422
