"""The log read API (DESIGN §4) as a client sees it: checkpoint, C2SP tiles, JSON proofs and leaves."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ledger.log import tile_path
from ledger.merkle import leaf_hash, root_of, verify_inclusion
from signatures.note import open_checkpoint
from tests.conftest import FakeClock
from tests.ledger.helpers import append
from trustledger.region import init_region
from trustledger.settings import Settings
from verify_api.app import create_app


@pytest.fixture
def client(db_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    settings = Settings(home=tmp_path / "home", database_url=db_url)
    region = init_region(settings, None, None, None, clock)
    append(region.recorder, 700 - region.log.size(), batch=100)  # init's catalogue events + these = 700
    with TestClient(create_app(region)) as c:
        c.app.state.region.sign_checkpoint()  # type: ignore[attr-defined]
        yield c
    region.close()


def test_checkpoint_tiles_and_proofs(client: TestClient) -> None:
    region = client.app.state.region  # type: ignore[attr-defined]
    body = open_checkpoint(client.get("/checkpoint").text, region.log_signer.verifier, region.config.origin)
    assert body.size == 700
    tile0 = client.get("/" + tile_path(0, 0))
    assert tile0.status_code == 200 and len(tile0.content) == 256 * 32
    partial = client.get("/" + tile_path(0, 2, 188)).content
    leaves = tile0.content + client.get("/" + tile_path(0, 1)).content + partial
    hashes = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
    assert root_of(hashes) == body.root_hash
    leaf = client.get("/v1/log/leaves/5").content
    assert leaf_hash(leaf) == hashes[5]
    proof = client.get("/v1/log/proof/inclusion", params={"index": 5, "tree_size": 700}).json()
    verify_inclusion(5, 700, hashes[5], [base64.b64decode(h) for h in proof["hashes"]], body.root_hash)
    bundle = client.get("/tile/entries/002.p/188").content
    assert int.from_bytes(bundle[:2], "big") == len(client.get("/v1/log/leaves/512").content)


BAD_REQUESTS = [
    ("/tile/0/003", 404),  # beyond the tree
    ("/tile/0/02", 404),  # not 3 digits
    ("/tile/0/002.p/0", 404),
    ("/tile/0/002.p/256", 404),
    ("/tile/0/x000/002", 404),
    ("/tile/0/999999999999999999999", 404),  # beyond any index the database can hold
    ("/v1/log/leaves/700", 404),
    ("/v1/log/leaves/487081647520762822656", 422),  # found by schemathesis: was a driver overflow (500)
    ("/v1/log/proof/inclusion?index=700&tree_size=700", 404),
    ("/v1/log/proof/inclusion?index=-1&tree_size=700", 422),
    ("/v1/log/proof/consistency?first=10&second=701", 404),
]


def test_bad_requests_get_problem_json_not_500(client: TestClient) -> None:
    for path, status in BAD_REQUESTS:
        response = client.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json", path
