"""Key rotation and compromise end to end: licences minted by LicenceService, keys changed through the CLI,
the trust list exported by the CLI, tokens verified by `trustledger verify` offline and online."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from licences.application import LicenceView
from signatures.cose import b64url_decode, b64url_encode, decode_token, sign_token, signer_for
from signatures.kids import kid_text, parse_kid
from tests.conftest import FakeClock
from trustledger import cli_common
from trustledger.cli import app
from trustledger.region import Region, init_region, open_region
from trustledger.settings import Settings

AMR = "11410000005164805L"  # 河南省市场监督管理局: first issuer of the demo registry
AMR_ZZ = "11410100007409378P"  # 郑州市市场监督管理局
BUSINESS = "11100000000013338W001"  # 营业执照, organisation holder, no expiry
FOOD_PRODUCTION = "11100000000013338W012"  # 食品生产许可证, five years
HOLDER = "91350100M000100Y43"
FOOD_FIELDS = {
    "legal_representative": "王五",
    "domicile": "郑州市",
    "production_address": "郑州市",
    "food_category": "糕点",
}


@dataclass
class World:
    """An initialised region on a fake clock, shared by the test's service calls and the CLI it invokes."""

    region: Region
    clock: FakeClock
    cli: CliRunner
    home: Path

    def run(self, *args: str, code: int = 0) -> str:
        result = self.cli.invoke(app, list(args))
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result.stdout

    def issue(self, issuer: str = AMR, type_code: str = BUSINESS, **kw: Any) -> LicenceView:
        return self.region.licences.issue(
            type_code=type_code, issuer=issuer, holder_id=HOLDER, holder_name="某某有限公司", **kw
        )

    def export(self, name: str = "tl.json") -> Path:
        path = self.home / name
        self.run("trust-list", "export", "-o", str(path))
        return path

    def verify(self, token: str, *extra: str, code: int = 0) -> dict[str, Any]:
        at = self.clock.now.isoformat()
        doc: dict[str, Any] = json.loads(self.run("--json", "verify", token, "--at", at, *extra, code=code))
        return doc

    def offline(self, token: str, trust_list: Path, *extra: str, code: int = 0) -> dict[str, Any]:
        return self.verify(token, "--trust-list", str(trust_list), "--offline", *extra, code=code)


def _world(url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("TRUSTLEDGER_HOME", str(home))
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", url)
    clock = FakeClock()
    init_region(Settings(), None, None, None, clock).close()  # keys registered on the same clock
    clock.advance(hours=1)
    monkeypatch.setattr(cli_common, "open_region", lambda settings: open_region(settings, clock))
    region = open_region(Settings(), clock)
    try:
        yield World(region, clock, CliRunner(), home)
    finally:
        region.close()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """A region on SQLite: what these scenarios exercise does not depend on the database (the trust list store is
    tested on both in test_trust.py; the scenarios marked `both` run on PostgreSQL too)."""
    yield from _world(f"sqlite:///{tmp_path / 'home.db'}", tmp_path / "home", monkeypatch)


@pytest.fixture
def world_both(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The same region on each database."""
    yield from _world(db_url, tmp_path / "home", monkeypatch)


def _reasons(doc: dict[str, Any]) -> list[str]:
    return [r["code"] for r in doc["reasons"]]


def _kid(token: str) -> bytes:
    return decode_token(b64url_decode(token))[0].kid


def test_export_lists_the_market_regulator_first_with_an_organisation_type(world: World) -> None:
    """The contract checker issues the first issuer's first type to an organisation: that order is relied on."""
    doc = json.loads(world.run("trust-list", "export"))
    first = doc["payload"]["issuers"][0]
    assert first["uscc"] == AMR
    assert world.region.catalogue.licence_type(first["licence_types"][0]).holder_kind.value in {
        "organisation",
        "either",
    }
    assert doc["payload"]["region"] == {"code": "410000", "name": "河南省"}
    assert doc["payload"]["log"]["verifier_key"] == world.run("log", "verifier-key").strip()


def test_export_republishes_only_on_change_and_serves_old_versions(world_both: World) -> None:
    world = world_both
    v1 = world.run("trust-list", "export")
    assert world.run("trust-list", "export") == v1
    world.clock.advance(minutes=1)
    world.run("keys", "rotate", AMR)
    v2 = json.loads(world.run("trust-list", "export"))
    assert v2["payload"]["version"] == 2 and v2["payload"]["previous_sha256"] is not None
    assert world.run("trust-list", "export", "--version", "1") == v1
    world.run("trust-list", "export", "--version", "9", code=1)
    out = json.loads(world.run("--json", "trust-list", "export", "-o", str(world.home / "x.json")))
    assert out["version"] == 2 and json.loads((world.home / "x.json").read_text()) == v2


def test_next_update_follows_the_configured_period(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def period(doc: dict[str, Any]) -> timedelta:
        times = [datetime.fromisoformat(doc["payload"][k].replace("Z", "+00:00")) for k in ("issued_at", "next_update")]
        return times[1] - times[0]

    assert period(json.loads(world.run("trust-list", "export"))) == timedelta(hours=24)
    monkeypatch.setenv("TRUSTLEDGER_TRUST_LIST_PERIOD_HOURS", "2")
    world.clock.advance(hours=12)  # half-aged: a fresh version, now with the shorter period
    assert period(json.loads(world.run("trust-list", "export"))) == timedelta(hours=2)


def test_rotation_keeps_old_licences_valid_and_new_ones_use_the_new_key(world_both: World) -> None:
    world = world_both
    old = world.issue()
    world.clock.advance(hours=1)
    rotated = json.loads(world.run("--json", "keys", "rotate", AMR))
    world.clock.advance(hours=1)
    new = world.issue()
    assert kid_text(_kid(new.token)) == rotated["kid"] != kid_text(_kid(old.token))
    trust_list = world.export()
    for licence in (old, new):  # the old key is retired, not distrusted: what it signed stands
        assert world.offline(licence.token, trust_list)["valid"] is True
        assert world.verify(licence.token)["valid"] is True  # online, from the registry
        assert world.offline(licence.qr_url, trust_list)["valid"] is True  # the full QR URL works too
        assert world.verify(licence.token, "--trust-list", str(trust_list))["mode"] == "online"  # online, from the file
    keys = json.loads(world.run("--json", "keys", "list", "--owner", AMR))
    assert [k["retired_at"] is not None for k in keys] == [True, False]


def test_a_retired_key_cannot_vouch_for_a_token_dated_after_retirement(world: World) -> None:
    world.run("keys", "rotate", AMR)
    world.clock.advance(hours=2)
    trust_list = world.export()
    retired = json.loads(world.run("--json", "keys", "list", "--owner", AMR))[0]
    assert retired["retired_at"] is not None
    # What a careless operator might do: sign a new token with the retired key, straight from the keystore.
    view = world.issue()
    claims = decode_token(b64url_decode(view.token))[1]
    late = sign_token(claims, signer_for(world.region.keys.load(f"token-{parse_kid(retired['kid']).hex()}")))
    doc = world.offline(b64url_encode(late), trust_list, code=1)
    assert _reasons(doc) == ["key_not_valid_at_signing_time"]


def test_compromise_since_t_refuses_later_tokens_and_keeps_earlier_ones(world_both: World) -> None:
    world = world_both
    before = world.issue()
    world.clock.advance(hours=1)
    since = world.clock.now
    world.clock.advance(hours=1)
    after = world.issue()
    kid = _kid(before.token).hex()
    assert _kid(after.token).hex() == kid
    out = json.loads(world.run("--json", "keys", "compromise", kid, "--since", since.isoformat(), "--reason", "泄露"))
    assert out["compromised_since"] == since.strftime("%Y-%m-%dT%H:%M:%SZ")
    trust_list = world.export()
    assert world.offline(before.token, trust_list)["valid"] is True
    doc = world.offline(after.token, trust_list, code=1)
    assert _reasons(doc) == ["key_compromised"] and doc["token"] is None  # no details from an untrusted key
    assert _reasons(world.verify(after.token, code=1)) == ["key_compromised"]
    assert world.verify(before.token)["valid"] is True
    text = world.run(
        "verify", after.token, "--trust-list", str(trust_list), "--offline", "--at", world.clock.now.isoformat(), code=1
    )
    assert text.startswith("NOT VALID") and "key compromised" in text


def test_keys_show_the_trust_list_kid_and_accept_it_or_hex(world: World) -> None:
    """One external form for a kid (base64url, as the trust list writes it); hex, printed by earlier versions, is
    still accepted as input."""
    view = world.issue()
    kid = _kid(view.token)
    listed = json.loads(world.run("--json", "keys", "list", "--owner", AMR))
    assert [k["kid"] for k in listed] == [kid_text(kid)] and set(listed[0]) >= {"kid", "owner", "alg"}
    assert "kid_b64url" not in listed[0]
    published = json.loads(world.run("trust-list", "export"))["payload"]["issuers"][0]["keys"]
    assert kid_text(kid) in {k["kid"] for k in published}
    assert world.run("keys", "list", "--owner", AMR).startswith(kid_text(kid) + "  ")
    root = json.loads(world.run("--json", "trust-list", "root-key"))
    assert root["kid"] == json.loads(world.run("trust-list", "export"))["signature"]["kid"]
    out = json.loads(world.run("--json", "keys", "compromise", kid.hex().upper(), "--since", "2000-01-01T00:00:00Z"))
    assert out["kid"] == kid_text(kid) and out["compromised_since"] == "2000-01-01T00:00:00Z"
    text = world.run("keys", "compromise", kid_text(kid), "--since", "1999-01-01T00:00:00Z")  # an earlier T stands
    assert text.startswith(f"key {kid_text(kid)} of {AMR} compromised since 1999-01-01T00:00:00Z")
    world.run("keys", "compromise", "not-a-kid", "--since", "2000-01-01T00:00:00Z", code=2)
    # 1 kid in 64 begins with "-" in base64url: it is still taken as the KID, not as an unknown option.
    dashed = world.run("keys", "compromise", "-eS8VcZl7Ag", "--since", "2000-01-01T00:00:00Z", code=1)
    assert "No such option" not in dashed


def test_stale_trust_list(world: World) -> None:
    view = world.issue()
    trust_list = world.export()
    next_update = json.loads(trust_list.read_text())["payload"]["next_update"]
    world.clock.now = datetime.fromisoformat(next_update.replace("Z", "+00:00"))
    doc = world.offline(view.token, trust_list, code=1)
    assert _reasons(doc) == ["trust_list_stale"]
    assert doc["reasons"][0]["title"] == "trust list stale"


def test_tampered_trust_list_or_wrong_root_key(world: World) -> None:
    view = world.issue()
    trust_list = world.export()
    doc = json.loads(trust_list.read_text())
    doc["payload"]["issuers"][0]["name"] = "冒名机关"
    forged = world.home / "forged.json"
    forged.write_text(json.dumps(doc, ensure_ascii=False))
    assert _reasons(world.offline(view.token, forged, code=1)) == ["trust_list_signature_invalid"]
    other = "MCowBQYDK2VwAyEAqtJwaa1c9MgFf6PF84gb2QvobTxlX9BAuFxSDPO8Wpo="
    assert _reasons(world.offline(view.token, trust_list, "--root-key", other, code=1)) == [
        "trust_list_signature_invalid"
    ]
    pinned = world.run("trust-list", "root-key").strip()
    assert world.offline(view.token, trust_list, "--root-key", pinned)["valid"] is True


def test_online_status_revoked_suspended_superseded_expired(world: World) -> None:
    licences = world.region.licences
    revoked, suspended, amended = world.issue(), world.issue(), world.issue()
    licences.revoke(revoked.id, actor=AMR, reason="吊销")
    licences.suspend(suspended.id, actor=AMR, reason="暂扣")
    licences.amend(amended.id, actor=AMR, changes={"address": "郑州市金水区"})
    short = world.issue(type_code=FOOD_PRODUCTION, fields=FOOD_FIELDS, valid_until=world.clock.now + timedelta(days=2))
    assert _reasons(world.verify(revoked.token, code=1)) == ["revoked"]
    assert _reasons(world.verify(suspended.token, code=1)) == ["suspended"]
    superseded = world.verify(amended.token, code=1)
    assert _reasons(superseded) == ["superseded"] and superseded["licence"]["licence_version"] == 2
    renewed = licences.renew(short.id, actor=AMR, valid_until=world.clock.now + timedelta(days=900))
    assert _reasons(world.verify(short.token, code=1)) == ["superseded"]  # renewal re-mints the token too
    assert world.verify(renewed.token)["valid"] is True
    assert world.verify(licences.get(amended.id).token)["valid"] is True
    world.clock.advance(days=3)
    assert _reasons(world.verify(short.token, code=1)) == ["expired", "superseded"]
    # Offline knows nothing of revocation: the trust list vouches for the key, so the old token still checks out.
    assert world.offline(revoked.token, world.export())["valid"] is True


def test_offline_needs_no_database(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    view = world.issue()
    trust_list = world.export()
    monkeypatch.setenv("TRUSTLEDGER_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    monkeypatch.setattr(cli_common, "open_region", _no_database)
    assert world.offline(view.token, trust_list)["mode"] == "offline"


def _no_database(_: Settings) -> Region:
    raise AssertionError("offline verification opened the database")


def test_usage_errors_exit_2(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    token = world.issue().token
    trust_list = world.export()
    world.run("verify", token, "--offline", code=2)  # no trust list
    world.run("verify", token, "--trust-list", str(world.home / "missing.json"), "--offline", code=2)
    world.run("verify", token, "--trust-list", str(trust_list), "--offline", "--at", "yesterday", code=2)
    world.run("verify", token, "--trust-list", str(trust_list), "--offline", "--root-key", "no-such-file", code=2)
    world.run("keys", "compromise", "zz", "--since", "2026-01-01T00:00:00Z", code=2)
    world.run("keys", "compromise", "00" * 8, "--since", "2026-01-01T00:00:00Z", code=1)  # well-formed, unknown
    world.run("keys", "rotate", "91350100M000100Y43", code=2)  # no department of the catalogue: names close ones


def test_malformed_token_is_checked_and_invalid(world: World) -> None:
    doc = world.offline("https://zw.ha.gov.cn/v/not*base64", world.export(), code=1)
    assert _reasons(doc) == ["malformed"]


def test_pdf_is_handed_to_the_seals_command(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from trustledger import cli_seals

    pdf = world.home / "licence.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    missing = world.cli.invoke(app, ["verify", str(world.home / "no-such.pdf")])
    assert missing.exit_code == 2 and "no such PDF file" in missing.stderr
    calls: list[tuple[Path, dict[str, Any]]] = []

    def verify_pdf(path: Path, **kw: Any) -> tuple[bool, dict[str, Any]]:
        calls.append((path, kw))
        return False, {"valid": False, "reasons": [{"code": "not_sealed", "detail": "no seal"}]}

    monkeypatch.setattr(cli_seals, "verify_pdf", verify_pdf, raising=False)
    monkeypatch.setattr(cli_seals, "pdf_report_text", lambda report: "NOT VALID (pdf)\n", raising=False)
    out = world.run("verify", str(pdf), "--offline", "--trust-list", "tl.json", code=1)
    assert out == "NOT VALID (pdf)\n"
    assert calls == [(pdf, {"trust_list": Path("tl.json"), "offline": True, "root_key": None, "at": None})]
    doc = json.loads(world.run("--json", "verify", str(pdf), code=1))
    assert doc["reasons"][0]["code"] == "not_sealed"


def test_the_trust_list_carries_the_seal_ca_and_each_issuers_seal_certificates(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from seals.errors import SealRegistryError
    from tests.signatures.helpers import p256, self_signed_pem
    from trustledger import trust

    ca, seal = self_signed_pem(p256("ca"), "河南省电子印章 CA"), self_signed_pem(p256("seal"), "河南省市场监督管理局")
    monkeypatch.setattr(trust, "seal_ca_pem", lambda region: ca)
    monkeypatch.setattr(trust, "seal_certificates_pem", lambda region, uscc: [seal] if uscc == AMR else [])
    payload = json.loads(world.run("trust-list", "export"))["payload"]
    assert payload["seal_ca_certificates"] == [ca]
    assert payload["issuers"][0]["seal_certificates"] == [seal] and payload["issuers"][1]["seal_certificates"] == []

    def no_ca(region: Region) -> str:
        raise SealRegistryError("the region has no seal CA yet")

    monkeypatch.setattr(trust, "seal_ca_pem", no_ca)  # before `init` made the seal PKI: the list names no CA
    world.clock.advance(minutes=1)
    assert json.loads(world.run("trust-list", "export"))["payload"]["seal_ca_certificates"] == []


def test_online_token_must_name_its_own_minting_event(world: World) -> None:
    """A token signed by a genuine key but naming a leaf, version or licence the ledger does not back is refused."""
    first, second = world.issue(), world.issue()
    claims = decode_token(b64url_decode(first.token))[1]
    elsewhere = claims.subject.replace(".001.", ".009.")
    kid = _kid(first.token).hex()
    signer = signer_for(world.region.keys.load(f"token-{kid}"))
    forged = {  # the same codes as the API's `/v1/verify/token` (docs/verification.md)
        "another licence's leaf": (replace(claims, leaf_index=second.minted_leaf), "not_on_ledger"),
        "a leaf that is no event": (replace(claims, leaf_index=10**9), "not_on_ledger"),
        "a version never minted": (replace(claims, version=7), "unknown_version"),
        "a licence never issued": (replace(claims, subject=elsewhere), "unknown_licence"),
    }
    for what, (changed, code) in forged.items():
        doc = world.verify(b64url_encode(sign_token(changed, signer)), code=1)
        assert _reasons(doc) == [code], what
        assert doc["token"] is None and doc["licence"] is None, what  # nothing shown of a token the ledger disowns
    assert world.verify(first.token)["licence"]["leaf_index"] == first.minted_leaf
