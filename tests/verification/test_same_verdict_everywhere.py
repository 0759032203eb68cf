"""One question, one answer: every case goes through the CLI (`trustledger verify`, online, and offline where the
trust list can know), the approval systems' API (`POST /v1/verify/token`), the citizens' JSON (`/v1/public/verify`)
and the scan page (`/v/<token>`), and each surface shows the same verdict and the same reason code.

The CLI prints its bottom line as `verdict` ("valid"/"invalid", unchanged since the first release) and lists every
reason; the verdict it stands for is on the first line of its text form ("NOT VALID (revoked)").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from licences.application import LicenceView
from signatures.cose import b64url_decode, b64url_encode, decode_token, sign_token
from tests.conftest import FakeClock
from tests.verify_api.conftest import Keys
from tests.verify_api.helpers import flip_last_byte, resign
from trustledger import cli_common
from trustledger.cli import app
from trustledger.region import Region, open_region
from verification import verdict_of_code

BUSINESS = "11100000000013338W001"  # 营业执照: organisation holder, no expiry
FOOD_PRODUCTION = "11100000000013338W012"  # 食品生产许可证: an expiry we choose
HOLDER = "91350100M000100Y43"
FOOD_FIELDS = {
    "legal_representative": "王五",
    "domicile": "郑州市",
    "production_address": "郑州市",
    "food_category": "糕点",
}


@dataclass
class Scene:
    """One region shared by the API app and the in-process CLI, on one hand-moved clock."""

    region: Region
    clock: FakeClock
    http: TestClient
    keys: Keys
    cli: CliRunner
    trust_list: str = ""

    @property
    def amr(self) -> str:
        return self.region.catalogue.department("ha-amr").uscc

    def issue(self, type_code: str = BUSINESS, **kw: Any) -> LicenceView:
        return self.region.licences.issue(
            type_code=type_code, issuer=self.amr, holder_id=HOLDER, holder_name="某某有限公司", **kw
        )

    def short(self, days: int = 2) -> LicenceView:
        return self.issue(FOOD_PRODUCTION, fields=FOOD_FIELDS, valid_until=self.clock.now + timedelta(days=days))

    def run(self, *args: str) -> tuple[int, str]:
        result = self.cli.invoke(app, list(args))
        assert result.exit_code in {0, 1}, (args, result.stdout, result.stderr)
        return result.exit_code, result.stdout


@pytest.fixture
def scene(region: Region, api_clock: FakeClock, http: TestClient, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> Scene:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(region.settings.home))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", region.settings.database_url)
    monkeypatch.setattr(cli_common, "open_region", lambda settings: open_region(settings, api_clock))
    return Scene(region, api_clock, http, keys, CliRunner())


# -- the cases: each makes a token and says what every surface must answer -----------------------------------------


def _valid(s: Scene) -> str:
    return s.issue().token


def _revoked(s: Scene) -> str:
    view = s.issue()
    s.region.licences.revoke(view.id, actor=s.amr, reason="吊销")
    return view.token


def _suspended(s: Scene) -> str:
    view = s.issue()
    s.region.licences.suspend(view.id, actor=s.amr, reason="暂扣")
    return view.token


def _expired(s: Scene) -> str:
    view = s.short()
    s.clock.advance(days=3)
    return view.token


def _amended(s: Scene) -> str:
    view = s.issue()
    s.region.licences.amend(view.id, actor=s.amr, changes={"address": "郑州市金水区"})
    return view.token


def _renewed(s: Scene) -> str:
    view = s.short(days=30)
    s.region.licences.renew(view.id, actor=s.amr, valid_until=s.clock.now + timedelta(days=900))
    return view.token


def _renewed_and_past_its_old_expiry(s: Scene) -> str:
    token = _renewed(s)
    s.clock.advance(days=31)
    return token


def _old_token_of_a_revoked_licence(s: Scene) -> str:
    token = _amended(s)
    s.region.licences.revoke(s.region.licences.resolve(_subject(token)), actor=s.amr, reason="吊销")
    return token


def _compromised_key(s: Scene) -> str:
    view = s.issue()
    kid = decode_token(b64url_decode(view.token))[0].kid
    s.region.registry.compromise_key(kid, since=view.valid_from - timedelta(seconds=5))
    return view.token


def _forged(s: Scene) -> str:
    return flip_last_byte(s.issue().token)


def _other_region(s: Scene) -> str:
    return resign(s.issue().token, log_origin="ledger.hb.gov.example/log")


def _minted_outside_the_ledger(s: Scene) -> str:
    """The department's real key, a leaf that minted nothing of this licence."""
    return _real_key_resigned(s, leaf_index=0)


def _licence_never_issued(s: Scene) -> str:
    return _real_key_resigned(s, subject=_subject(s.issue().token).replace(".001.", ".009."))


def _holder_differs(s: Scene) -> str:
    return _real_key_resigned(s, holder_digest=bytes(16))


def _another_issuers_key(s: Scene) -> str:
    police = s.region.catalogue.department("zz-traffic-police").uscc
    return _real_key_resigned(s, signer_of=police)


def _version_minted_by_another_leaf(s: Scene) -> str:
    """The current version's claims naming the leaf that minted version 1."""
    view = s.issue()
    current = s.region.licences.amend(view.id, actor=s.amr, changes={"address": "郑州市金水区"})
    claims = decode_token(b64url_decode(current.token))[1]
    _, signer = s.region.registry.token_signer(s.amr, s.clock.now)
    return b64url_encode(sign_token(replace(claims, leaf_index=view.minted_leaf), signer))


def _real_key_resigned(s: Scene, signer_of: str | None = None, **changes: Any) -> str:
    _, signer = s.region.registry.token_signer(signer_of or s.amr, s.clock.now)
    claims = decode_token(b64url_decode(s.issue().token))[1]
    return b64url_encode(sign_token(replace(claims, **changes), signer))


def _subject(token: str) -> str:
    return decode_token(b64url_decode(token))[1].subject


@dataclass(frozen=True)
class Case:
    make: Callable[[Scene], str]
    verdict: str
    code: str  # the API's reason_code; the CLI's only reason (or the first of `cli_codes`)
    cli_codes: tuple[str, ...] | None = None  # when the CLI lists more than the deciding reason
    offline: bool = False  # the trust list alone knows this case (no revocation, no versions)


CASES = {
    "valid": Case(_valid, "valid", "valid", (), offline=True),
    "revoked": Case(_revoked, "revoked", "revoked"),
    "suspended": Case(_suspended, "suspended", "suspended"),
    "expired": Case(_expired, "expired", "expired", offline=True),
    "superseded (amended)": Case(_amended, "superseded", "superseded"),
    "superseded (renewed)": Case(_renewed, "superseded", "superseded"),
    "superseded, past the old expiry": Case(
        _renewed_and_past_its_old_expiry, "superseded", "superseded", ("expired", "superseded")
    ),
    "revoked outranks superseded": Case(
        _old_token_of_a_revoked_licence, "revoked", "revoked", ("revoked", "superseded")
    ),
    "compromised key": Case(_compromised_key, "invalid", "key_compromised", offline=True),
    "forged (flipped byte)": Case(_forged, "invalid", "bad_signature", offline=True),
    "another region's token": Case(_other_region, "other_region", "other_log", offline=True),
    "minted outside the ledger": Case(_minted_outside_the_ledger, "invalid", "not_on_ledger"),
    "licence never issued": Case(_licence_never_issued, "unknown", "unknown_licence"),
    "holder differs from the ledger's": Case(_holder_differs, "invalid", "holder_mismatch"),
    "key of another issuer": Case(_another_issuers_key, "invalid", "key_not_issuers", offline=True),
    "current version, older minting leaf": Case(_version_minted_by_another_leaf, "invalid", "not_on_ledger"),
}


# -- the surfaces ----------------------------------------------------------------------------------------------------


def _cli(s: Scene, token: str, *extra: str) -> tuple[str, list[str]]:
    """(verdict, reason codes) as `trustledger verify` shows them, after checking its JSON and text agree."""
    at = s.clock.now.isoformat()
    code, out = s.run("--json", "verify", token, "--at", at, *extra)
    doc = json.loads(out)
    codes = [r["code"] for r in doc["reasons"]]
    assert (code == 0) is doc["valid"] is (doc["verdict"] == "valid") is (codes == [])
    _, text = s.run("verify", token, "--at", at, *extra)
    first = text.splitlines()[0]
    found = re.fullmatch(r"VALID|NOT VALID \((\w+)\)", first)
    assert found is not None, first
    verdict = found.group(1) or "valid"
    assert {verdict_of_code(c) for c in codes} >= ({verdict} - {"valid"})  # the text's verdict is one of its reasons'
    return verdict, codes


def _api(s: Scene, token: str) -> tuple[str, str]:
    answer = s.http.post(
        "/v1/verify/token", json={"token": token}, headers={"Authorization": f"Bearer {s.keys.verifier}"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["valid"] is (body["verdict"] == "valid")
    return body["verdict"], body["reason_code"]


def _public(s: Scene, token: str) -> tuple[str, str]:
    body = s.http.get("/v1/public/verify", params={"token": token}).json()
    return body["verdict"], body["reason_code"]


def _page(s: Scene, token: str) -> tuple[str, str]:
    page = s.http.get(f"/v/{token}")
    assert page.status_code == 200
    found = re.search(r'data-verdict="(\w+)" data-reason="(\w+)"', page.text)
    assert found is not None
    return found.group(1), found.group(2)


@pytest.mark.parametrize("name", list(CASES))
def test_same_verdict_and_reason_everywhere(scene: Scene, name: str) -> None:
    case = CASES[name]
    token = case.make(scene)
    expected = (case.verdict, case.code)
    assert _api(scene, token) == expected
    assert _public(scene, token) == expected
    assert _page(scene, token) == expected
    verdict, codes = _cli(scene, token)
    assert verdict == case.verdict
    assert tuple(codes) == (case.cli_codes if case.cli_codes is not None else (case.code,))
    if case.offline:
        trust_list = scene.region.settings.home / "tl.json"
        assert scene.run("trust-list", "export", "-o", str(trust_list))[0] == 0
        offline = _cli(scene, token, "--trust-list", str(trust_list), "--offline")
        assert offline == (verdict, codes)
