"""The tile routes serve a tile at its one canonical path only: every alias of a level or an index is a 404 problem."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from ledger.tiles import tile_path
from trustledger.region import Region

P = "https://trustledger.example/problems/"
LEVEL_ALIASES = ["+0", "00", "%200", "0%0A", "0_0", quote("٠"), quote("０")]
INDEX_ALIASES = [quote("٠٠٠"), quote("０００"), "+00", "%20000", "000%0A", "0_00", "x000/000"]


@pytest.fixture
def width(region: Region) -> int:
    return min(region.log.size(), 255)


def test_the_canonical_paths_are_served(http: TestClient, width: int) -> None:
    assert len(http.get("/" + tile_path(0, 0, width)).content) == 32 * width
    assert http.get(f"/tile/entries/000.p/{width}").status_code == 200


@pytest.mark.parametrize("level", LEVEL_ALIASES)
def test_level_aliases_are_404_problems(http: TestClient, width: int, level: str) -> None:
    response = http.get(f"/tile/{level}/000.p/{width}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == P + "not-found"


@pytest.mark.parametrize("index", INDEX_ALIASES)
def test_index_aliases_are_404_problems(http: TestClient, width: int, index: str) -> None:
    for path in (f"/tile/0/{index}.p/{width}", f"/tile/entries/{index}.p/{width}"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert response.json()["type"] == P + "not-found", path
