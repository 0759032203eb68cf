"""The licence index carries what the citizen's scan shows (masked holder name, minting time, token key id): the
projector writes it with the events, shredding clears it, the scan replays and decrypts nothing, and rows written
before the columns existed still work (the old path) and are filled in by their next command."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text

from demo.synthetic import SyntheticHolders
from licences.application import LicenceService
from licences.domain import Licence
from licences.holder_keys import SqlHolderKeyVault
from licences.identifiers import mask_name
from licences.recording import Recording
from licences.store import LicenceRow
from signatures.cose import b64url_decode, decode_token
from tests.conftest import FakeClock
from tests.licences.conftest import FOOD_FIELDS
from tests.samples import person_fields
from trustledger.region import Region, init_region
from trustledger.settings import Settings
from verify_api.app import create_app

COMPANY_ID = "91350100M000100Y43"
COMPANY_NAME = "郑州鼎盛餐饮有限公司"
OTHER_ID = "91410200MA5QYJ197U"
ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局: issues 食品经营许可证
DRIVING = "11100000001407312X001"  # 机动车驾驶证: citizens, by 郑州市公安局交通管理支队
START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def region(db_url: str, tmp_path: Path, fake_clock: FakeClock) -> Iterator[Region]:
    settings = Settings(home=tmp_path / "home", database_url=db_url, public_rate_limit=0)
    r = init_region(settings, None, None, None, clock=fake_clock)
    yield r
    r.close()


@pytest.fixture
def svc(region: Region) -> LicenceService:
    return region.licences


def issue_food(svc: LicenceService, holder_id: str = COMPANY_ID, holder_name: str = COMPANY_NAME) -> Any:
    return svc.issue(
        type_code="food-business-licence",
        issuer=ZZ_AMR,
        holder_id=holder_id,
        holder_name=holder_name,
        fields=FOOD_FIELDS,
    )


def row(svc: LicenceService, licence_id: Any) -> LicenceRow:
    found = svc.store.licence(licence_id)
    assert found is not None
    return found


def forbid_replay_and_decryption(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any replay of a stream, any unwrap of a holder key and any opening of holder data fail the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the scan path must not replay or decrypt")

    monkeypatch.setattr(Recording, "load", refuse)
    monkeypatch.setattr(SqlHolderKeyVault, "_unwrap", refuse)
    monkeypatch.setattr(Licence, "holder", refuse)


def token_kid(token: str) -> str:
    return decode_token(b64url_decode(token))[0].kid.hex()


def test_the_projector_writes_display_name_minting_time_and_token_kid(
    svc: LicenceService, fake_clock: FakeClock
) -> None:
    view = issue_food(svc)
    issued = row(svc, view.id)
    assert issued.display_name == COMPANY_NAME  # an organisation: in full, its name is public (公示)
    assert issued.minted_at == START
    assert issued.token_kid == token_kid(view.token)
    assert issued.token_kid in {k.kid.hex() for k in svc.registry.keys_of(ZZ_AMR)}
    fake_clock.advance(hours=1)
    svc.suspend(view.id, actor=ZZ_AMR, reason="检查")  # mints nothing: everything is carried over
    assert (row(svc, view.id).display_name, row(svc, view.id).minted_at) == (issued.display_name, START)
    svc.reinstate(view.id, actor=ZZ_AMR)
    fake_clock.advance(hours=1)
    amended = svc.amend(view.id, actor=ZZ_AMR, changes={}, holder_name="郑州新盛餐饮有限公司")
    after = row(svc, view.id)
    assert after.display_name == "郑州新盛餐饮有限公司" and after.minted_at == START + timedelta(hours=2)
    assert after.token_kid == token_kid(amended.token)
    assert svc.masked_holder_name(view.id) == "郑州**有限公司"


def test_a_citizen_holder_gets_the_masked_personal_name(svc: LicenceService) -> None:
    citizen = SyntheticHolders(seed=6).citizen()
    police = svc.catalogue.department("zz-traffic-police").uscc
    fields = {**person_fields(citizen.id_number), "address": "郑州市金水区花园路1号"}
    view = svc.issue(
        type_code=DRIVING,
        issuer=police,
        holder_id=citizen.id_number,
        holder_name=citizen.name,
        fields={**fields, "first_issued_on": "2010-05-01", "vehicle_class": "C1"},
    )
    assert row(svc, view.id).display_name == mask_name(citizen.name) != citizen.name


def test_masked_holder_name_reads_the_index_without_replay_or_decryption(
    svc: LicenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = issue_food(svc)
    forbid_replay_and_decryption(monkeypatch)
    licence_id = svc.resolve(view.identifier)
    assert svc.get(licence_id).token == view.token
    assert svc.masked_holder_name(licence_id) == "郑州**有限公司"


def test_shredding_clears_the_display_name_of_the_holders_licences_only(
    svc: LicenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = issue_food(svc), issue_food(svc)
    other = issue_food(svc, holder_id=OTHER_ID, holder_name="郑州另一餐饮有限公司")
    svc.shred_holder(COMPANY_ID)
    assert row(svc, first.id).display_name is None and row(svc, second.id).display_name is None
    assert row(svc, other.id).display_name == "郑州另一餐饮有限公司"
    forbid_replay_and_decryption(monkeypatch)
    assert svc.masked_holder_name(first.id) is None  # no key: None at once, nothing replayed
    assert svc.masked_holder_name(other.id) == "郑州**有限公司"
    monkeypatch.undo()
    svc.suspend(first.id, actor=ZZ_AMR, reason="检查")  # a later command does not bring the name back
    assert row(svc, first.id).display_name is None and svc.masked_holder_name(first.id) is None


def test_a_row_from_before_the_columns_falls_back_to_the_replay_and_is_filled_in_by_its_next_command(
    region: Region, svc: LicenceService, fake_clock: FakeClock
) -> None:
    view = issue_food(svc)
    with region.store.engine.begin() as conn:
        conn.execute(text("UPDATE licence_index SET display_name = NULL, minted_at = NULL, token_kid = NULL"))
    replays: list[object] = []
    original = Recording.load

    def counting(self: Recording, stream_id: Any) -> Any:
        replays.append(stream_id)
        return original(self, stream_id)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Recording, "load", counting)
        assert svc.masked_holder_name(view.id) == "郑州**有限公司"
    assert replays == [view.id]  # the old path
    svc.suspend(view.id, actor=ZZ_AMR, reason="检查")
    legacy = row(svc, view.id)
    assert legacy.display_name == COMPANY_NAME and (legacy.minted_at, legacy.token_kid) == (None, None)
    assert svc.get(view.id).token == view.token  # the token is carried over, not re-signed
    fake_clock.advance(days=1)
    renewed_view = svc.amend(view.id, actor=ZZ_AMR, changes={"premises": "郑州市金水区农业路2号"})
    renewed = row(svc, view.id)
    assert renewed.minted_at == START + timedelta(days=1) and renewed.token_kid == token_kid(renewed_view.token)


def test_a_revoked_licence_s_scan_reads_its_revocation_kind_without_replay(
    region: Region, svc: LicenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = issue_food(svc)
    svc.use(view.id, verifier="郑州市一网通办", matter_code="410100-XK-001", purpose="核验", consent="授权")
    svc.revoke(view.id, actor=ZZ_AMR, reason="依法吊销", kind="penalty")
    assert region.licence_store.revocation_kind(view.id) == "penalty"
    assert region.licence_store.revocation_kind(issue_food(svc).id) is None  # not revoked
    forbid_replay_and_decryption(monkeypatch)
    with TestClient(create_app(region)) as http:
        answer = http.get("/v1/public/verify", params={"token": view.token}).json()
    assert answer["verdict"] == "revoked" and answer["licence"]["revocation_kind"] == "penalty"
    assert answer["licence"]["holder_name"] == COMPANY_NAME


def test_a_scan_replays_nothing_and_reads_no_holder_key(
    region: Region, svc: LicenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = issue_food(svc)
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    forbid_replay_and_decryption(monkeypatch)
    with TestClient(create_app(region)) as http:
        http.get(f"/v/{view.token}")  # warm the catalogue and key caches
        event.listen(region.store.engine, "before_cursor_execute", record)
        try:
            page = http.get(f"/v/{view.token}")
            answer = http.get("/v1/public/verify", params={"token": view.token}).json()
        finally:
            event.remove(region.store.engine, "before_cursor_execute", record)
    assert page.status_code == 200 and COMPANY_NAME in page.text  # an organisation's name in full (公示)
    assert answer["verdict"] == "valid" and answer["licence"]["holder_name_masked"] == "郑州**有限公司"
    assert answer["licence"]["holder_name"] == COMPANY_NAME
    assert not [s for s in statements if "holder_keys" in s]
    # Warm, a request reads no event at all: the issuer's key records (re-derived from their streams) and the minting
    # leaf (immutable) are kept per process, and the licence's stream is never replayed.
    assert not [s for s in statements if "ledger_events" in s]
    # The check's own reads: the licence's row (one join) and its proven status, in one transaction.
    assert sum("licence_identifiers" in s for s in statements) == 2
