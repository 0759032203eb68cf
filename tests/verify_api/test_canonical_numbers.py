"""Every number that names an immutable resource has one spelling: each alias of it (sign, leading zero, underscore,
whitespace, non-ASCII digits, …) on every such route is a 422 problem naming the parameter (a 404 on tile paths),
never a 200; the canonical spelling is a 200."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.verify_api.conftest import Keys
from trustledger.anchoring import anchor_latest
from trustledger.region import Region
from verify_api.params import canonical_decimal
from verify_api.schemas import LicenceOut

P = "https://trustledger.example/problems/"
_ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
_DEVANAGARI = str.maketrans("0123456789", "०१२३४५६७८९")


def aliases(canonical: str) -> list[str]:
    """Texts that Python's `int()` or pydantic's lax integers read as the same number (or nearly: `1.0`, `1e0`)."""
    return [
        "+" + canonical,
        "0" + canonical,
        "00" + canonical,
        "0_" + canonical,
        canonical[0] + "_" + canonical[1:] if len(canonical) > 1 else canonical + "_0",
        " " + canonical,
        canonical + " ",
        canonical + "\n",
        "\t" + canonical,
        canonical + "\r\n",
        canonical.translate(_ARABIC_INDIC),
        canonical.translate(_FULL_WIDTH),
        canonical.translate(_DEVANAGARI),
        canonical + ".0",
        canonical + "e0",
        "",
    ]


@dataclass(frozen=True)
class Route:
    """A URL template with one `{}` for the number, the parameter's name, and the canonical text that is served."""

    template: str
    param: str
    canonical: str
    auditor: bool = False
    tile: bool = False  # C2SP tlog-tiles: a path naming no tile is a 404

    def url(self, text: str) -> str:
        return self.template.format(quote(text, safe=""))


@dataclass(frozen=True)
class World:
    http: TestClient
    keys: Keys
    routes: tuple[Route, ...]


@pytest.fixture
def world(http: TestClient, region: Region, keys: Keys, licence: LicenceOut) -> World:
    size = anchor_latest(region).anchor.tree_size  # a signed, timestamped checkpoint of this size
    assert http.get("/v1/trust-list").status_code == 200  # publishes version 1
    n, w = str(size), str(min(size, 255))
    lic = licence.id
    routes = (
        Route("/v1/log/leaves/{}", "index", "1"),
        Route(f"/v1/log/proof/inclusion?tree_size={n}&index={{}}", "index", "1"),
        Route("/v1/log/proof/inclusion?index=0&tree_size={}", "tree_size", n),
        Route(f"/v1/log/proof/consistency?second={n}&first={{}}", "first", "1"),
        Route("/v1/log/proof/consistency?first=1&second={}", "second", n),
        Route("/v1/trust-list/{}", "version", "1"),
        Route("/v1/anchors/{}", "size", n),
        Route("/v1/log/checkpoints/{}", "size", n),
        Route(f"/v1/status/proof?identifier={quote(licence.identifier)}&token={licence.token}&size={{}}", "size", n),
        Route(f"/v1/licences/{lic}/history?size={{}}", "size", n, auditor=True),
        Route(f"/licences/{lic}/provenance?size={{}}", "size", n, auditor=True),
        Route(f"/tile/{{}}/000.p/{w}", "level", "0", tile=True),
        Route("/tile/0/000.p/{}", "width", w, tile=True),
        Route("/tile/entries/000.p/{}", "width", w, tile=True),
    )
    return World(http, keys, routes)


def _get(world: World, route: Route, text: str) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {world.keys.auditor}"} if route.auditor else {}
    response = world.http.get(route.url(text), headers=headers)
    is_problem = response.headers.get("content-type") == "application/problem+json"
    return response.status_code, response.json() if is_problem else {}


def test_canonical_numbers_are_served_and_their_aliases_never(world: World) -> None:
    served = []
    for route in world.routes:
        assert _get(world, route, route.canonical)[0] == 200, route.url(route.canonical)
        for alias in aliases(route.canonical):
            if alias == "" and "?" not in route.template:
                continue  # an empty path segment names another resource (`/v1/trust-list/` → the current list)
            status, problem = _get(world, route, alias)
            url = route.url(alias)
            if route.tile:
                assert (status, problem.get("type")) == (404, P + "not-found"), url
            elif status != 422 or problem.get("field") != route.param:
                served.append((url, status, problem.get("field")))
    assert served == []


def test_percent_encoded_tile_paths_are_404(world: World) -> None:
    # Starlette decodes `%30` and `%2F` before routing, so only the raw request path tells these from the canonical.
    w = next(r.canonical for r in world.routes if r.param == "width")
    encoded_w = "".join(f"%{ord(c):02X}" for c in w)
    for path in (
        f"/tile/%30/000.p/{w}",
        f"/tile/0/%30%30%30.p/{w}",
        f"/tile/0/000%2Ep/{w}",
        f"/tile/0/000.p%2F{w}",
        f"/tile/0/000.p/{encoded_w}",
        f"/tile/entries/%30%30%30.p/{w}",
        f"/tile/entries/000.p/{encoded_w}",
    ):
        response = world.http.get(path)
        assert (response.status_code, response.json()["type"]) == (404, P + "not-found"), path
    assert world.http.get(f"/tile/0/000.p/{w}").status_code == 200


@pytest.mark.parametrize("text", ["0", "1", "9", "10", "4294967296", "9223372036854775807", "9999999999999999999"])
def test_canonical_decimal_reads_canonical_text(text: str) -> None:
    assert canonical_decimal(text) == int(text)


@pytest.mark.parametrize("text", [*aliases("7"), *aliases("10"), "-1", "-0", "10000000000000000000", "0x1", "1 0"])
def test_canonical_decimal_refuses_every_alias(text: str) -> None:
    with pytest.raises(ValueError, match="decimal number"):
        canonical_decimal(text)


def test_canonical_decimal_refuses_what_is_not_text() -> None:
    for value in (1, 1.0, True, b"1"):
        with pytest.raises(ValueError, match="decimal number"):
            canonical_decimal(value)
    assert canonical_decimal(None) is None
