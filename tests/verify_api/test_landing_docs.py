"""The landing page, the API docs served with no CDN, and the rate limit's 429 page (a page for pages, problem+json
for the JSON endpoints)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from tests.conftest import FakeClock
from verify_api.ratelimit import RateLimiter
from verify_api.schemas import LicenceOut

ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


class _Urls(HTMLParser):
    """Every `src`, `href` and `spec-url` of a page, and every URL its inline scripts name."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [v for k, v in attrs if k in {"src", "href", "spec-url"} and v]
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._script = False

    def handle_data(self, data: str) -> None:
        if self._script:
            self.urls += re.findall(r"""(?:url|src|href)\s*[:=]\s*['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"https?://[^\s'\"]+", data)


def _urls(html: str) -> list[str]:
    parser = _Urls()
    parser.feed(html)
    return parser.urls


def test_landing_page(http: TestClient) -> None:
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"].startswith("default-src 'none';")  # no script, like every page
    assert "<script" not in page.text
    assert "电子证照核验服务" in page.text and "E-licence verification service" in page.text
    assert "https://verify.ha.gov.example/v/" in page.text  # where a genuine QR code leads
    links = _urls(page.text)
    assert {"/docs", "/checkpoint", "/v1/trust-list"} <= set(links)
    for link in ("/docs", "/redoc", "/openapi.json", "/checkpoint", "/v1/trust-list"):
        assert http.get(link).status_code == 200, link
    assert "/" not in http.get("/openapi.json").json()["paths"]  # pages are not API operations


def test_docs_load_only_local_assets(http: TestClient) -> None:
    for docs in ("/docs", "/redoc"):
        page = http.get(docs)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        urls = _urls(page.text)
        assert urls, docs
        assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls  # nothing from a CDN
        assert "/openapi.json" in urls
        for url in urls:
            asset = http.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rfind(".") :]
            if suffix in ASSET_TYPES:
                assert asset.headers["content-type"].startswith(ASSET_TYPES[suffix]), url
                assert len(asset.content) > 1000, url
    assert "SwaggerUIBundle" in http.get("/docs/assets/swagger-ui-bundle.js").text
    assert http.get("/docs/assets/nothing.js").status_code == 404


def test_rate_limited_page_is_a_page(http: TestClient, licence: LicenceOut, api_clock: FakeClock) -> None:
    http.app.state.rate_limiter = RateLimiter(1, clock=api_clock.monotonic)  # type: ignore[attr-defined]
    assert http.get(f"/v/{licence.token}").status_code == 200
    page = http.get(f"/v/{licence.token}")
    assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
    assert page.headers["retry-after"] == "60"
    assert page.headers["content-security-policy"].startswith("default-src 'none';")
    assert page.headers["cache-control"] == "no-store"
    assert 'data-verdict="rate_limited"' in page.text and 'data-retry-after="60"' in page.text
    assert "查询过于频繁" in page.text and "Too many checks" in page.text and "60 秒" in page.text
    # The provenance page (its limit is checked in the route body, not as a dependency) is a page too.
    provenance = http.get(f"/licences/{licence.id}/provenance", params={"token": licence.token})
    assert provenance.status_code == 429 and provenance.headers["content-type"].startswith("text/html")
    assert "Retry-After" in provenance.headers
    # The JSON endpoints keep problem+json.
    answer = http.get("/v1/public/verify", params={"token": licence.token})
    assert answer.status_code == 429 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/rate-limited") and "retry-after" in answer.headers
    api_clock.advance(seconds=60)
    assert http.get(f"/v/{licence.token}").status_code == 200
