"""Citizens: the QR page and its JSON — verdicts, least disclosure, bad tokens, the per-address rate limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from licences.identifiers import mask_name
from tests.conftest import START, FakeClock
from tests.samples import COMPANY_ID, COMPANY_NAME
from tests.verify_api.conftest import Citizen, Keys, client_for
from tests.verify_api.helpers import flip_last_byte, organisation_licence, resign
from trustledger.region import Region
from verify_api.client import ApiProblem
from verify_api.public_routes import china_minute
from verify_api.ratelimit import RateLimiter
from verify_api.schemas import LicenceOut, PublicVerdict


def public_json(http: TestClient, token: str) -> PublicVerdict:
    """The JSON twin's answer, read with the server's own schema (the fields this page added included)."""
    response = http.get("/v1/public/verify", params={"token": token})
    assert response.status_code == 200
    return PublicVerdict.model_validate_json(response.text)


def test_public_json_discloses_least(http: TestClient, licence: LicenceOut, citizen: Citizen) -> None:
    answer = public_json(http, licence.qr_url)
    assert (answer.verdict, answer.valid) == ("valid", True)
    assert answer.licence is not None
    assert answer.licence.holder_name_masked == mask_name(citizen.name) == citizen.name[0] + "*"  # 张芳 → 张*
    assert (answer.licence.holder_kind, answer.licence.holder_name) == ("citizen", citizen.name[0] + "*")
    assert answer.licence.identifier == licence.identifier  # printed on the paper: the citizen compares the two
    assert answer.licence.revocation_kind is None
    assert answer.checked_at == START + timedelta(minutes=1)  # the api_clock's now
    assert answer.licence.issuer_name == "郑州市公安局交通管理支队"
    assert answer.provenance_url is not None
    assert answer.provenance_url.startswith(f"https://verify.ha.gov.example/licences/{licence.id}/provenance?token=")
    raw = http.get("/v1/public/verify", params={"token": licence.token}).text
    raw = raw.replace(licence.token, "")  # base64url text may spell anything, "C1" included
    for secret in (citizen.id_number, citizen.name, licence.holder_digest, "C1", "花园路"):
        assert secret not in raw


def test_scan_page_shows_verdict_issuer_validity_identifier_masked_name(
    http: TestClient, licence: LicenceOut, citizen: Citizen
) -> None:
    page = http.get(f"/v/{licence.token}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script runs
    html = page.text
    assert 'data-verdict="valid"' in html and "有效" in html and "Valid" in html
    assert "机动车驾驶证" in html and "郑州市公安局交通管理支队" in html and "至" in html
    assert citizen.name[0] + "*" in html
    assert f'<dd id="identifier">{licence.identifier}</dd>' in html  # what binds the code to the paper
    assert china_minute(START + timedelta(minutes=1)) in html and "北京时间" in html
    assert citizen.id_number not in html and citizen.name not in html
    html = html.replace(licence.token, "")  # the provenance link carries the token: base64url may spell "C1"
    for value in ("C1", "花园路", "2010-05-01"):  # field values stay off the page
        assert value not in html
    assert f"/licences/{licence.id}/provenance?token=" in html
    assert "<script" not in html


def test_the_time_of_the_check_is_beijing_time_to_the_minute() -> None:
    assert china_minute(datetime(2026, 12, 4, 10, 30, 59, tzinfo=UTC)) == "2026-12-04 18:30 北京时间"


def test_an_organisation_is_shown_by_its_full_public_name(http: TestClient, region: Region) -> None:
    view = organisation_licence(region)
    html = http.get(f"/v/{view.token}").text
    assert 'data-verdict="valid"' in html and f">{COMPANY_NAME}<" in html and "郑州**" not in html
    assert f'<dd id="identifier">{view.identifier}</dd>' in html and 'data-holder-kind="organisation"' in html
    assert "热食类食品制售" not in html and "张伟" not in html  # field values (the legal representative) stay off
    answer = public_json(http, view.token)
    assert answer.licence is not None
    assert (answer.licence.holder_kind, answer.licence.holder_name) == ("organisation", COMPANY_NAME)
    assert answer.licence.holder_name_masked == mask_name(COMPANY_NAME) == "郑州**有限公司"
    assert answer.licence.identifier == view.identifier


def test_an_organisation_row_masked_by_the_earlier_rule_still_shows_the_full_name(
    http: TestClient, region: Region
) -> None:
    view = organisation_licence(region)
    with region.store.engine.begin() as conn:  # as the projector wrote it before organisations were shown in full
        conn.execute(text("UPDATE licence_index SET display_name = '郑州**有限公司'"))
    answer = public_json(http, view.token)
    assert answer.licence is not None and answer.licence.holder_name == COMPANY_NAME
    region.licences.suspend(view.id, actor="zz-amr", reason="核查")  # its next change writes the full name
    row = region.licences.queries.store.licence(view.id)
    assert row is not None and row.display_name == COMPANY_NAME


def test_a_shredded_organisation_shows_no_name(http: TestClient, region: Region) -> None:
    view = organisation_licence(region)
    region.licences.shred_holder(COMPANY_ID)
    answer = public_json(http, view.token)
    assert answer.licence is not None
    assert (answer.licence.holder_name, answer.licence.holder_name_masked) == (None, None)
    assert "个人信息已删除" in http.get(f"/v/{view.token}").text


@pytest.mark.parametrize(("kind", "zh", "shown"), [("voluntary", "已注销", "注销"), ("penalty", "已吊销", "吊销")])
def test_a_revoked_licence_says_cancelled_or_revoked_as_a_penalty(
    http: TestClient, keys: Keys, licence: LicenceOut, kind: Literal["voluntary", "penalty"], zh: str, shown: str
) -> None:
    client_for(http, keys.issuer).revoke(licence.id, reason="依法处理", kind=kind)
    html = http.get(f"/v/{licence.token}").text
    assert 'data-verdict="revoked"' in html and f"<h1>{zh}</h1>" in html
    assert f'data-revocation-kind="{kind}">{shown}' in html and "依法处理" not in html  # never the reason's text
    answer = public_json(http, licence.token)
    assert answer.licence is not None and answer.licence.revocation_kind == kind


@pytest.mark.parametrize(
    ("action", "verdict", "zh"),
    [
        ("suspend", "suspended", "已暂扣"),
        ("revoke", "revoked", "已注销"),
        ("amend", "superseded", "已被新版本取代"),
    ],
)
def test_scan_page_after_the_lifecycle(
    http: TestClient, keys: Keys, licence: LicenceOut, action: str, verdict: str, zh: str
) -> None:
    issuer = client_for(http, keys.issuer)
    if action == "suspend":
        issuer.suspend(licence.id, reason="核查")
    elif action == "revoke":
        issuer.revoke(licence.id, reason="注销")
    else:
        issuer.amend(licence.id, changes={"vehicle_class": "A2"})
    html = http.get(f"/v/{licence.token}").text
    assert f'data-verdict="{verdict}"' in html and zh in html
    assert client_for(http, None).public_verify(licence.token).verdict == verdict


def test_expired_shows_as_expired(http: TestClient, licence: LicenceOut, api_clock: object) -> None:
    assert licence.valid_until is not None
    api_clock.now = licence.valid_until  # type: ignore[attr-defined]
    html = http.get(f"/v/{licence.token}").text
    assert 'data-verdict="expired"' in html and "已过期" in html


def test_bad_tokens_get_a_clear_page_not_a_500(http: TestClient, licence: LicenceOut) -> None:
    malformed = http.get("/v/not-a-token")
    assert malformed.status_code == 400 and "不是有效的证照二维码" in malformed.text
    forged = http.get(f"/v/{flip_last_byte(licence.token)}")
    assert forged.status_code == 200 and 'data-verdict="invalid"' in forged.text and "无法验证" in forged.text
    assert "机动车驾驶证" not in forged.text  # a forged code's claims never reach the screen
    foreign = http.get(f"/v/{resign(licence.token, log_origin='ledger.hb.gov.example/log')}")
    assert 'data-verdict="other_region"' in foreign.text
    assert http.get("/v/" + "A" * 5000).status_code == 400  # over-long: the same clear page
    with pytest.raises(ApiProblem) as exc:
        client_for(http, None).public_verify("@@@")
    assert (exc.value.status, exc.value.field) == (422, "token")


def test_rate_limit_per_address_with_retry_after(http: TestClient, licence: LicenceOut, api_clock: FakeClock) -> None:
    # As the app builds it, on the region clock's monotonic time: moving the clock refills the bucket.
    http.app.state.rate_limiter = RateLimiter(3, clock=api_clock.monotonic)  # type: ignore[attr-defined]
    for _ in range(3):
        assert http.get("/v1/public/verify", params={"token": licence.token}).status_code == 200
    limited = http.get(f"/v/{licence.token}")  # a citizen's page: the 429 is a page too, with Retry-After
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")
    assert 'data-verdict="rate_limited"' in limited.text
    assert int(limited.headers["retry-after"]) == 20
    as_json = http.get("/v1/public/verify", params={"token": licence.token})  # the JSON twin stays problem+json
    assert as_json.status_code == 429 and as_json.headers["content-type"] == "application/problem+json"
    assert as_json.json()["type"].endswith("/rate-limited")
    api_clock.advance(seconds=20)  # one token back (3 a minute); refused requests took none
    assert http.get(f"/v/{licence.token}").status_code == 200
    assert http.get(f"/v/{licence.token}").status_code == 429
    assert http.get("/healthz").status_code == 200  # only the public verification routes are limited


def test_rate_limiter_buckets() -> None:
    now = [0.0]
    limiter = RateLimiter(60, clock=lambda: now[0], max_addresses=2)
    assert all(limiter.take("a") == 0.0 for _ in range(60))
    assert limiter.take("a") == pytest.approx(1.0)
    assert limiter.take("b") == 0.0  # another address has its own bucket
    limiter.take("c")  # evicts "a" (least recently seen): it can only gain a fresh bucket
    assert limiter.take("a") == 0.0
    off = RateLimiter(0, clock=lambda: now[0])
    assert all(off.take("x") == 0.0 for _ in range(1000))
    with pytest.raises(ValueError, match="per_minute"):
        RateLimiter(-1, clock=lambda: now[0])
