"""Immutable resources (full tiles, entry bundles, leaves, trust list versions) come from memory with a strong ETag,
`immutable` caching, 304s and HEAD; partial tiles are briefly cacheable; nothing that failed is remembered."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.log import Log, tile_path
from ledger.merkle import leaf_hash
from tests.conftest import FakeClock
from tests.ledger.helpers import append
from trustledger.region import Region, init_region
from trustledger.settings import Settings
from verify_api import log_routes
from verify_api.app import create_app
from verify_api.immutable import IMMUTABLE, PARTIAL, Body, ImmutableCache

TILE0 = "/" + tile_path(0, 0)  # full: leaves 0-255
PARTIAL2 = "/" + tile_path(0, 2, 188)  # leaves 512-699 of a 700-leaf tree
FULL2 = "/" + tile_path(0, 2)  # not there until the tree holds 768 leaves


@pytest.fixture
def client(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", database_url=db_url, public_rate_limit=0)
    region = init_region(settings, None, None, None, clock)
    append(region.recorder, 700 - region.log.size(), batch=100)
    with TestClient(create_app(region)) as c:
        c.app.state.region.sign_checkpoint()  # type: ignore[attr-defined]
        yield c
    region.close()


def _region(client: TestClient) -> Region:
    region: Region = client.app.state.region  # type: ignore[attr-defined]
    return region


def _cache(client: TestClient) -> ImmutableCache:
    cache: ImmutableCache = client.app.state.immutable_cache  # type: ignore[attr-defined]
    return cache


def _etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()}"'


def test_a_full_tile_is_immutable_with_a_strong_etag_a_304_and_head(client: TestClient) -> None:
    first = client.get(TILE0)
    assert first.status_code == 200 and len(first.content) == 256 * 32
    assert first.headers["cache-control"] == IMMUTABLE == "public, max-age=31536000, immutable"
    assert first.headers["etag"] == _etag(first.content)
    again = client.get(TILE0, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == first.headers["etag"]
    assert again.headers["cache-control"] == IMMUTABLE
    weak_list = client.get(TILE0, headers={"If-None-Match": f'"other", W/{first.headers["etag"]}'})
    assert weak_list.status_code == 304
    other = client.get(TILE0, headers={"If-None-Match": _etag(b"another body")})
    assert other.status_code == 200 and other.content == first.content
    head = client.head(TILE0)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["etag"] == first.headers["etag"] and head.headers["content-length"] == str(256 * 32)


def test_a_full_tile_is_read_from_the_store_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    first = client.get(TILE0).content
    assert (_cache(client).misses, _cache(client).hits) == (1, 0)

    def no_store(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("a cached tile must not be read again")

    monkeypatch.setattr(Log, "tile", no_store)
    assert client.get(TILE0).content == first
    assert client.head(TILE0).headers["etag"] == _etag(first)
    assert _cache(client).hits == 2


def test_a_partial_tile_is_briefly_cacheable_and_not_kept(client: TestClient) -> None:
    assert client.get(TILE0).status_code == 200  # one full tile held
    partial = client.get(PARTIAL2)
    assert partial.status_code == 200 and len(partial.content) == 188 * 32
    assert partial.headers["cache-control"] == PARTIAL and "immutable" not in partial.headers["cache-control"]
    assert partial.headers["etag"] == _etag(partial.content)
    assert client.get(PARTIAL2, headers={"If-None-Match": partial.headers["etag"]}).status_code == 304
    assert list(_cache(client)._items) == [TILE0.encode()]


def test_a_tile_beyond_the_tree_is_not_remembered(client: TestClient) -> None:
    missing = client.get(FULL2)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    region = _region(client)
    append(region.recorder, 768 - region.log.size(), batch=100)  # now the tree covers tile 2
    region.sign_checkpoint()
    full = client.get(FULL2)
    assert full.status_code == 200 and full.headers["cache-control"] == IMMUTABLE
    leaves = [client.get(f"/v1/log/leaves/{i}").content for i in (512, 767)]
    assert full.content[:32] == leaf_hash(leaves[0]) and full.content[-32:] == leaf_hash(leaves[1])


def test_only_the_canonical_spelling_reaches_the_cache(client: TestClient) -> None:
    assert client.get(TILE0).status_code == 200
    for spelling in ("/tile/0/000%0A", "/tile/0/%30%30%30", "/tile/00/000", "/tile/0/0"):
        response = client.get(spelling)
        assert response.status_code == 404, spelling
        assert response.headers["content-type"] == "application/problem+json"


def test_entry_bundles_and_leaves_are_immutable_too(client: TestClient) -> None:
    bundle = client.get("/tile/entries/000")
    assert bundle.status_code == 200 and bundle.headers["cache-control"] == IMMUTABLE
    assert bundle.headers["etag"] == _etag(bundle.content)
    assert client.get("/tile/entries/000", headers={"If-None-Match": bundle.headers["etag"]}).status_code == 304
    partial = client.get("/tile/entries/002.p/188")
    assert partial.status_code == 200 and partial.headers["cache-control"] == PARTIAL
    leaf = client.get("/v1/log/leaves/5")
    assert leaf.status_code == 200 and leaf.headers["cache-control"] == IMMUTABLE
    assert leaf.headers["content-type"] == "application/json" and leaf.headers["etag"] == _etag(leaf.content)
    assert client.get("/v1/log/leaves/5", headers={"If-None-Match": leaf.headers["etag"]}).status_code == 304
    assert client.get("/v1/log/leaves/700").status_code in (404, 422)  # beyond the tree: a problem, not cached
    assert b"/v1/log/leaves/700" not in _cache(client)


def test_a_trust_list_version_is_read_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    assert client.get("/v1/trust-list/99").status_code == 404  # never published: a problem, not remembered
    current = client.get("/v1/trust-list")
    version = current.headers["x-trust-list-version"]
    first = client.get(f"/v1/trust-list/{version}")
    assert first.status_code == 200 and first.content == current.content
    assert first.headers["cache-control"] == IMMUTABLE and first.headers["etag"] == current.headers["etag"]

    def no_store(version: int) -> None:
        raise AssertionError("a published version must come from memory")

    monkeypatch.setattr(_region(client), "trust_list_version", no_store)
    assert client.get(f"/v1/trust-list/{version}").content == first.content
    head = client.head(f"/v1/trust-list/{version}")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
    cached = client.get(f"/v1/trust-list/{version}", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304


def test_an_old_checkpoint_is_served_by_its_size_and_never_changes(client: TestClient) -> None:
    region = _region(client)
    latest = client.get("/checkpoint").text
    first = client.get("/v1/log/checkpoints/700")
    assert first.status_code == 200 and first.text == latest
    assert first.text.splitlines()[1] == "700"  # C2SP tlog-checkpoint: origin, tree size, root hash, ...
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    assert first.headers["cache-control"] == IMMUTABLE and first.headers["etag"] == _etag(first.content)
    append(region.recorder, 10, batch=10)
    region.sign_checkpoint()
    assert client.get("/checkpoint").text.splitlines()[1] == "710"  # the newest moved on; size 700 did not
    again = client.get("/v1/log/checkpoints/700")
    assert again.status_code == 200 and again.content == first.content
    assert client.get("/v1/log/checkpoints/700", headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    head = client.head("/v1/log/checkpoints/700")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == first.headers["etag"]
    assert client.get("/v1/log/checkpoints/710").text.splitlines()[1] == "710"


def test_an_old_checkpoint_is_read_from_the_store_once(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    first = client.get("/v1/log/checkpoints/700")
    assert first.status_code == 200 and b"/v1/log/checkpoints/700" in _cache(client)

    def no_store(*args: object) -> None:
        raise AssertionError("a checkpoint already served must come from memory")

    monkeypatch.setattr(log_routes, "checkpoint_of_size", no_store)
    assert client.get("/v1/log/checkpoints/700").content == first.content
    assert client.head("/v1/log/checkpoints/700").headers["etag"] == first.headers["etag"]


def test_a_size_never_signed_is_a_404_problem_and_not_remembered(client: TestClient) -> None:
    for size in (699, 800):  # passed by without a checkpoint; not reached yet
        missing = client.get(f"/v1/log/checkpoints/{size}")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        problem = missing.json()
        assert problem["type"].endswith("/checkpoint-not-found") and problem["field"] == "size"
        assert f"/v1/log/checkpoints/{size}".encode() not in _cache(client)
    region = _region(client)
    append(region.recorder, 100, batch=100)
    region.sign_checkpoint()
    signed = client.get("/v1/log/checkpoints/800")
    assert signed.status_code == 200 and signed.text.splitlines()[1] == "800"


def test_a_checkpoint_size_is_parsed_canonically(client: TestClient) -> None:
    assert client.get("/v1/log/checkpoints/700").status_code == 200
    for alias in ("0700", "+700", "7_00", "700.0", "-1", str(2**63)):
        response = client.get(f"/v1/log/checkpoints/{alias}")
        assert response.status_code == 422, alias
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == "size", alias


def test_head_of_a_post_only_route_is_still_refused(client: TestClient) -> None:
    response = client.head("/v1/verify/token")
    assert response.status_code == 405 and response.content == b""


def _body(data: bytes) -> Body:
    return Body.of(data, "application/octet-stream")


def test_the_cache_is_bounded_by_entries_and_bytes() -> None:
    by_count = ImmutableCache(max_entries=2, max_bytes=1000)
    for key in (b"a", b"b", b"a", b"c"):  # `a` is used again before `c` arrives: `b` is the least recent
        by_count.get(key, lambda key=key: _body(key * 10))
    assert sorted(by_count._items) == [b"a", b"c"] and by_count.size_bytes == 20
    by_size = ImmutableCache(max_entries=100, max_bytes=25)
    for key in (b"a", b"b", b"c"):
        by_size.get(key, lambda: _body(b"x" * 10))
    assert sorted(by_size._items) == [b"b", b"c"] and by_size.size_bytes == 20
    by_size.get(b"huge", lambda: _body(b"x" * 26))  # larger than the whole cache: served, not kept
    assert b"huge" not in by_size and by_size.size_bytes == 20


def test_a_failed_read_is_not_cached() -> None:
    cache = ImmutableCache()

    def fails() -> Body:
        raise LookupError("not in the tree yet")

    with pytest.raises(LookupError):
        cache.get(b"/t", fails)
    assert cache.get(b"/t", lambda: _body(b"now")).data == b"now" and len(cache) == 1


def test_an_empty_cache_is_refused() -> None:
    for entries, size in ((0, 10), (10, 0)):
        with pytest.raises(ValueError, match="at least one"):
            ImmutableCache(max_entries=entries, max_bytes=size)


def test_an_answer_from_memory_keeps_request_ids_metrics_and_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert client.get(TILE0).status_code == 200  # held from now on: the next ones are answered before routing
    with caplog.at_level(logging.INFO, logger="verify_api.access"):
        again = client.get(TILE0, headers={"X-Request-Id": "mem-1"})
        head = client.head(TILE0, headers={"X-Request-Id": "mem-2", "If-None-Match": again.headers["etag"]})
    assert again.status_code == 200 and again.headers["x-request-id"] == "mem-1" and len(again.content) == 8192
    assert head.status_code == 304 and head.headers["x-request-id"] == "mem-2" and head.content == b""
    lines = {r.__dict__["request_id"]: r.__dict__ for r in caplog.records if r.name == "verify_api.access"}
    assert lines["mem-1"]["route"] == "/tile/{level}/{path:path}" and lines["mem-1"]["status"] == 200
    assert lines["mem-2"]["method"] == "HEAD" and lines["mem-2"]["status"] == 304
    metrics = client.app.state.metrics.render().decode()  # type: ignore[attr-defined]  # what /metrics serves
    counted = [line for line in metrics.splitlines() if 'route="/tile/{level}/{path:path}"' in line]
    assert any('method="GET"' in line and 'status="200"' in line and line.endswith(" 2.0") for line in counted)
    with_query = client.get(TILE0 + "?x=1")  # a query string is the route's to judge: it answers the same tile
    assert with_query.status_code == 200 and with_query.content == again.content
