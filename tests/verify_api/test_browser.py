"""The citizen's pages in a real browser (Debian's headless Chromium): the scan page, the provenance page, the landing
page, the rate limit's 429 page, and the API docs (Swagger UI, from local files only).

The pages are served by uvicorn on a loopback port; Chromium dumps the DOM it built (`--dump-dom`) and takes
screenshots at a phone's viewport. Set TRUSTLEDGER_SAVE_SCREENSHOTS=1 to also write them to docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from tests.samples import COMPANY_NAME
from tests.verify_api.conftest import Citizen, Keys, client_for
from tests.verify_api.helpers import flip_last_byte, organisation_licence
from trustledger.region import Region
from verify_api.schemas import LicenceOut

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PHONE = "412,915"


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    # No JavaScript runs on these pages in any case: their CSP is default-src 'none' with no script-src. (Chromium's
    # scriptEnabled=false switch would also stop --dump-dom, which reads the DOM through script.)
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--lang=zh-CN",
        "--hide-scrollbars",
        f"--window-size={PHONE}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)


class _Texts(HTMLParser):
    """Text by element id, and data-* attributes, from the DOM Chromium built."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.attrs: list[dict[str, str | None]] = []
        self._open: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.attrs.append(found)
        if tag not in {"br", "meta", "link", "img", "input"}:
            self._open.append(found.get("id"))
            if found.get("id"):
                self.by_id[str(found["id"])] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag not in {"br", "meta", "link", "img", "input"} and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for open_id in self._open:
            if open_id:
                self.by_id[open_id] += data


def dom(url: str) -> _Texts:
    parser = _Texts()
    parser.feed(_chromium("--dump-dom", url).stdout)
    return parser


def screenshot(url: str, path: Path) -> Image.Image:
    _chromium(f"--screenshot={path}", url)
    if os.environ.get("TRUSTLEDGER_SAVE_SCREENSHOTS"):
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)
    return Image.open(path).convert("RGB")


def _has_colour(image: Image.Image, rgb: tuple[int, int, int]) -> bool:
    colours = image.getcolors(maxcolors=1 << 20) or []
    return any(c == rgb for _, c in colours)


def _squash(text: str) -> str:
    return " ".join(text.split())


def test_scan_page_in_chromium(
    live: str, http: TestClient, keys: Keys, licence: LicenceOut, citizen: Citizen, tmp_path: Path
) -> None:
    url = f"{live}/v/{licence.token}"
    page = dom(url)
    assert _squash(page.by_id["verdict"]).startswith("有效 Valid")
    assert "机动车驾驶证" in page.by_id["type"] and "Motor Vehicle Driving Licence" in page.by_id["type"]
    assert _squash(page.by_id["issuer"]) == "郑州市公安局交通管理支队"
    assert _squash(page.by_id["holder"]).startswith(citizen.name[0] + "*（部分隐藏）")  # a person: masked
    assert _squash(page.by_id["identifier"]) == licence.identifier  # printed on the paper: compare the two
    assert _squash(page.by_id["checked-at"]).startswith("核验时间 ") and "北京时间" in page.by_id["checked-at"]
    assert "至" in page.by_id["validity"] and "年" in page.by_id["validity"]
    whole = " ".join(page.by_id.values())
    assert citizen.id_number not in whole and citizen.name not in whole
    link = next(a["href"] for a in page.attrs if a.get("id") == "provenance")
    assert link is not None and link.startswith(f"/licences/{licence.id}/provenance?token=")
    image = screenshot(url, tmp_path / "scan-valid.png")
    assert image.width == 412 and _has_colour(image, (0x0A, 0x7F, 0x3F))  # the green verdict rendered

    trail = dom(live + link)
    assert "溯源记录" in trail.by_id["events"] or "事件" in trail.by_id["events"]
    kinds = [a.get("data-kind") for a in trail.attrs if a.get("data-kind")]
    assert kinds == ["issued"]
    assert "— ledger.ha.gov.example/log" in trail.by_id["note"]
    assert licence.identifier not in " ".join(trail.by_id.values())
    screenshot(live + link, tmp_path / "provenance-public.png")

    client_for(http, keys.issuer).suspend(licence.id, reason="核查")
    suspended = dom(url)
    assert _squash(suspended.by_id["verdict"]).startswith("已暂扣 Suspended")
    image = screenshot(url, tmp_path / "scan-suspended.png")
    assert _has_colour(image, (0xB3, 0x26, 0x1E))  # red

    forged = dom(f"{live}/v/{flip_last_byte(licence.token)}")
    assert _squash(forged.by_id["verdict"]).startswith("无法验证 Not authentic")
    assert "type" not in forged.by_id and "identifier" not in forged.by_id  # nothing from the forged token is shown


def test_an_organisation_revoked_as_a_penalty_in_chromium(live: str, region: Region, tmp_path: Path) -> None:
    view = organisation_licence(region)
    region.licences.revoke(view.id, actor="zz-amr", reason="依法吊销", kind="penalty")
    url = f"{live}/v/{view.token}"
    page = dom(url)
    assert _squash(page.by_id["verdict"]).startswith("已吊销 Revoked (penalty)")
    assert _squash(page.by_id["holder"]) == COMPANY_NAME  # an organisation: its public name, in full
    assert _squash(page.by_id["identifier"]) == view.identifier
    assert _squash(page.by_id["revocation"]).startswith("吊销")
    image = screenshot(url, tmp_path / "scan-revoked-organisation.png")
    assert _has_colour(image, (0xB3, 0x26, 0x1E))  # red


@pytest.fixture
def live_limited(region: Region, request: pytest.FixtureRequest) -> str:
    """`live`, started with a public rate limit of one request a minute per address (the fake clock stands still)."""
    region.settings.public_rate_limit = 1
    return str(request.getfixturevalue("live"))


def test_landing_and_rate_limited_pages_in_chromium(live_limited: str, licence: LicenceOut, tmp_path: Path) -> None:
    landing = dom(live_limited + "/")
    assert _squash(landing.by_id["about"]).startswith("电子证照核验服务 E-licence verification service")
    assert "https://verify.ha.gov.example/v/" in landing.by_id["scan"]
    hrefs = {a.get("href") for a in landing.attrs}
    assert {"/docs", "/checkpoint", "/v1/trust-list"} <= hrefs
    screenshot(live_limited + "/", tmp_path / "landing.png")

    url = f"{live_limited}/v/{licence.token}"
    assert _squash(dom(url).by_id["verdict"]).startswith("有效 Valid")  # this minute's one request
    limited = dom(url)
    assert _squash(limited.by_id["verdict"]).startswith("查询过于频繁，请稍后再试 Too many checks from this network")
    assert next(a.get("data-retry-after") for a in limited.attrs if a.get("id") == "verdict") == "60"
    assert "60 秒" in limited.by_id["verdict"]
    image = screenshot(url, tmp_path / "scan-rate-limited.png")
    assert _has_colour(image, (0xB3, 0x6B, 0x00))  # amber (wait), not the red of a forged code


def test_api_docs_render_offline_in_chromium(live: str) -> None:
    # Swagger UI runs script: give it virtual time to fetch /openapi.json and build the operations list. Every
    # asset comes from this server (test_landing_docs), so this passes with no network at all.
    html = _chromium("--virtual-time-budget=10000", "--dump-dom", f"{live}/docs").stdout
    assert 'class="swagger-ui"' in html and "TrustLedger" in html
    assert "/v1/public/verify" in html  # the operations were rendered from the spec
