"""The licence library end to end on both databases: one transaction per command, read models, tokens, privacy."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from demo.synthetic import SyntheticHolders
from ledger.audit import run_audit
from licences.application import IssueRequest, LicenceService
from licences.errors import (
    ConcurrentUpdateError,
    HolderDataShreddedError,
    IdempotencyConflictError,
    InvalidFieldError,
    LicenceNotFoundError,
    LicenceRevokedError,
    ReminderError,
    UnauthorisedDepartmentError,
    UnknownLicenceTypeError,
)
from licences.values import LicenceStatus
from signatures.cose import b64url_decode, verify_token_signature
from signatures.keyring import KeyRing
from tests.conftest import FakeClock
from tests.licences.conftest import FOOD_FIELDS
from trustledger.region import Region, init_region
from trustledger.settings import Settings

COMPANY_ID = "91350100M000100Y43"
ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局: issues 食品经营许可证
HA_AMR = "11410000005164805L"  # 河南省市场监督管理局: issues 营业执照, not 食品经营许可证
START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def region(db_url: str, tmp_path: Path, fake_clock: FakeClock) -> Iterator[Region]:
    r = init_region(Settings(home=tmp_path / "home", database_url=db_url), None, None, None, clock=fake_clock)
    yield r
    r.close()


@pytest.fixture
def svc(region: Region) -> LicenceService:
    return region.licences


def issue_food(svc: LicenceService, **overrides: object) -> object:
    kwargs: dict[str, object] = {
        "type_code": "food-business-licence",
        "issuer": ZZ_AMR,
        "holder_id": COMPANY_ID,
        "holder_name": "郑州鼎盛餐饮有限公司",
        "fields": FOOD_FIELDS,
    }
    kwargs.update(overrides)
    return svc.issue(**kwargs)  # type: ignore[arg-type]


def audit_ok(region: Region) -> None:
    region.sign_checkpoint()
    run_audit(region.store, region.log_signer.verifier, region.config.origin)


def test_issue_lands_events_leaf_read_models_and_a_verifiable_token(region: Region, svc: LicenceService) -> None:
    before = region.log.size()
    view = svc.issue(
        type_code="food-business-licence",
        issuer=ZZ_AMR,
        holder_id=COMPANY_ID,
        holder_name="郑州鼎盛餐饮有限公司",
        fields=FOOD_FIELDS,
    )
    assert region.log.size() == before + 1 and view.minted_leaf == before
    assert view.identifier.startswith("1.2.156.3005.2.11100000000013338W011.11410100007409378P.2026")
    assert view.status is LicenceStatus.VALID and view.licence_version == 1
    assert view.valid_until == START.replace(year=2031)  # the type's five-year rule
    assert view.qr_url == f"{region.public_base_url}/v/{view.token}"
    ring = KeyRing.of(region.registry.keys_of(ZZ_AMR))
    verified = verify_token_signature(b64url_decode(view.token), ring.public_key)
    claims = verified.claims
    assert (claims.issuer, claims.subject, claims.version, claims.leaf_index) == (ZZ_AMR, view.identifier, 1, before)
    assert claims.holder_digest.hex() == view.holder_digest == svc.holder_digest_of(COMPANY_ID)
    assert svc.get(view.id) == view
    assert svc.resolve(view.identifier) == view.id
    assert [v.id for v in svc.by_holder(COMPANY_ID)] == [view.id]
    assert [v.id for v in svc.by_issuer(ZZ_AMR)] == [view.id]
    assert [v.id for v in svc.expiring_between(START, START.replace(year=2032))] == [view.id]
    assert svc.expiring_between(START, START.replace(year=2030)) == []
    leaf_data, _ = region.log.leaf(view.minted_leaf)
    assert b"LicenceIssued" in leaf_data and COMPANY_ID.encode() not in leaf_data  # personal data sealed
    assert "郑州鼎盛".encode() not in leaf_data
    audit_ok(region)


def test_serials_count_up_per_type_and_issuer(svc: LicenceService) -> None:
    first = issue_food(svc)
    second = issue_food(svc, holder_id="91410200MA5QYJ197U")
    assert first.identifier.split(".")[7] == "20260000001"  # type: ignore[attr-defined]
    assert second.identifier.split(".")[7] == "20260000002"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        ({"holder_id": "91350100M000100Y42"}, InvalidFieldError, "holder_id"),  # bad GB 32100 check character
        ({"holder_id": "410181200303036999"}, InvalidFieldError, "holder_id"),  # a citizen cannot hold this type
        ({"fields": {**FOOD_FIELDS, "main_format": "不存在"}}, InvalidFieldError, "fields.main_format"),
        ({"fields": {"premises": "x"}}, InvalidFieldError, "fields.legal_representative"),
        ({"holder_name": " "}, InvalidFieldError, "holder_name"),
        ({"valid_until": START - timedelta(days=1)}, InvalidFieldError, "valid_until"),
        ({"type_code": "no-such-type"}, UnknownLicenceTypeError, None),
        ({"issuer": HA_AMR}, UnauthorisedDepartmentError, None),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    region: Region, svc: LicenceService, overrides: dict[str, object], error: type[Exception], field: str | None
) -> None:
    before = region.log.size()
    with pytest.raises(error) as raised:
        issue_food(svc, **overrides)
    if field is not None:
        assert isinstance(raised.value, InvalidFieldError) and raised.value.field == field
    assert region.log.size() == before
    assert svc.store.count() == 0


def test_idempotency_key_returns_the_first_result_and_refuses_reuse(region: Region, svc: LicenceService) -> None:
    first = issue_food(svc, idempotency_key="req-1")
    size = region.log.size()
    again = issue_food(svc, idempotency_key="req-1")
    assert again == first and region.log.size() == size
    with pytest.raises(IdempotencyConflictError):
        issue_food(svc, idempotency_key="req-1", holder_name="另一家公司")
    suspended = svc.suspend(first.id, actor=ZZ_AMR, reason="检查", idempotency_key="s-1")  # type: ignore[attr-defined]
    size = region.log.size()
    assert svc.suspend(first.id, actor=ZZ_AMR, reason="检查", idempotency_key="s-1") == suspended  # type: ignore[attr-defined]
    assert region.log.size() == size
    with pytest.raises(IdempotencyConflictError):
        svc.revoke(first.id, actor=ZZ_AMR, reason="x", idempotency_key="s-1")  # type: ignore[attr-defined]


def test_lifecycle_status_tokens_and_history(region: Region, svc: LicenceService, fake_clock: FakeClock) -> None:
    view = issue_food(svc, valid_until=START + timedelta(days=60))
    lid = view.id  # type: ignore[attr-defined]
    old_token = view.token  # type: ignore[attr-defined]
    refused = svc.use(lid, verifier="郑州市政务服务网", matter_code="410100-001", purpose="开办", consent="")
    assert (refused.outcome, refused.refusal_reason) == ("refused", "no_consent")
    svc.suspend(lid, actor=ZZ_AMR, reason="食品安全检查")
    use = svc.use(lid, verifier="郑州市政务服务网", matter_code="410100-001", purpose="开办", consent="授权书#1")
    assert (use.outcome, use.refusal_reason) == ("refused", "licence_suspended")
    svc.reinstate(lid, actor=ZZ_AMR)
    amended = svc.amend(lid, actor=ZZ_AMR, changes={"premises": "郑州市金水区农业路2号"})
    assert amended.licence_version == 2 and amended.token != old_token and amended.fields["premises"].endswith("2号")
    fake_clock.advance(days=45)
    renewed = svc.renew(lid, actor=ZZ_AMR)
    assert renewed.licence_version == 3 and renewed.status is LicenceStatus.VALID
    assert renewed.valid_until == (START + timedelta(days=60)).replace(year=2032)  # old end + 5 years
    accepted = svc.use(lid, verifier="郑州市政务服务网", matter_code="410100-001", purpose="开办", consent="授权书#2")
    assert accepted.outcome == "accepted" and accepted.licence.licence_version == 3
    svc.revoke(lid, actor=ZZ_AMR, reason="主动注销")
    size = region.log.size()
    with pytest.raises(LicenceRevokedError):
        svc.renew(lid, actor=ZZ_AMR)
    with pytest.raises(UnauthorisedDepartmentError):
        svc.suspend(lid, actor=HA_AMR, reason="x")
    assert region.log.size() == size
    kinds = [e.kind for e in svc.history(lid)]
    assert kinds == [
        "issued", "invoked", "suspended", "invoked", "reinstated", "amended", "renewed", "invoked", "revoked"
    ]  # fmt: skip
    leaves = [e.leaf_index for e in svc.history(lid)]
    assert leaves == sorted(leaves)
    assert svc.get(lid).status is LicenceStatus.REVOKED
    audit_ok(region)


def test_expiry_is_derived_from_the_clock_and_refuses_use(svc: LicenceService, fake_clock: FakeClock) -> None:
    view = issue_food(svc, valid_until=START + timedelta(days=10))
    fake_clock.advance(days=10)
    assert svc.get(view.id).status is LicenceStatus.EXPIRED  # type: ignore[attr-defined]
    use = svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c")  # type: ignore[attr-defined]
    assert use.refusal_reason == "licence_expired"


def test_uses_live_in_their_own_streams(svc: LicenceService) -> None:
    view = issue_food(svc)
    for i in range(30):
        svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c", idempotency_key=f"u{i}")  # type: ignore[attr-defined]
    again = svc.use(view.id, verifier="v", matter_code="m", purpose="p", consent="c", idempotency_key="u3")  # type: ignore[attr-defined]
    assert again.leaf_index == svc.history(view.id)[4].leaf_index  # type: ignore[attr-defined]
    assert svc.load(view.id).version == 1  # type: ignore[attr-defined]  # 31 uses, still one lifecycle event
    assert svc.store.use_count(view.id) == 30  # type: ignore[attr-defined]


def test_reminders_are_recorded_once_per_stage_and_reset_by_renewal(
    region: Region, svc: LicenceService, fake_clock: FakeClock
) -> None:
    view = issue_food(svc, valid_until=START + timedelta(days=60))
    lid = view.id  # type: ignore[attr-defined]
    with pytest.raises(ReminderError):
        svc.record_reminder(lid, 30)  # not due yet
    fake_clock.advance(days=31)
    seen: list[int] = []
    leaf = svc.record_reminder(lid, 30, same_transaction=lambda conn, leaf: seen.append(leaf))
    assert seen == [leaf] and svc.get(lid).reminded_stage == 30
    size = region.log.size()
    with pytest.raises(ReminderError):
        svc.record_reminder(lid, 30)
    assert region.log.size() == size
    svc.renew(lid, actor=ZZ_AMR)
    assert svc.get(lid).reminded_stage is None


def test_the_outbox_hook_failing_rolls_everything_back(
    region: Region, svc: LicenceService, fake_clock: FakeClock
) -> None:
    view = issue_food(svc, valid_until=START + timedelta(days=20))
    fake_clock.advance(days=14)

    def boom(conn: object, leaf: int) -> None:
        raise RuntimeError("outbox down")

    size = region.log.size()
    with pytest.raises(RuntimeError):
        svc.record_reminder(view.id, 7, same_transaction=boom)  # type: ignore[attr-defined]
    assert region.log.size() == size and svc.get(view.id).reminded_stage is None  # type: ignore[attr-defined]
    assert svc.record_reminder(view.id, 7) == size  # type: ignore[attr-defined]
    audit_ok(region)


def test_shredding_a_holder_destroys_personal_data_but_the_audit_still_passes(
    region: Region, svc: LicenceService
) -> None:
    view = issue_food(svc)
    assert svc.holder(view.id).name == "郑州鼎盛餐饮有限公司"  # type: ignore[attr-defined]
    assert svc.masked_holder_name(view.id) == "郑州**有限公司"  # type: ignore[attr-defined]
    svc.shred_holder(COMPANY_ID)
    with pytest.raises(HolderDataShreddedError):
        svc.holder(view.id)  # type: ignore[attr-defined]
    assert svc.masked_holder_name(view.id) is None  # type: ignore[attr-defined]
    assert svc.get(view.id).status is LicenceStatus.VALID  # type: ignore[attr-defined]
    audit_ok(region)


def test_unknown_licences_are_not_found(svc: LicenceService) -> None:
    with pytest.raises(LicenceNotFoundError):
        svc.resolve("1.2.156.3005.2.X")
    with pytest.raises(LicenceNotFoundError):
        svc.resolve("00000000-0000-0000-0000-000000000000")


def test_issue_batch_is_all_or_nothing(region: Region, svc: LicenceService) -> None:
    holders = SyntheticHolders(7)
    good = [IssueRequest("food-business-licence", ZZ_AMR, holders.uscc(), f"公司{i}", FOOD_FIELDS) for i in range(5)]
    bad = [*good[:2], IssueRequest("food-business-licence", ZZ_AMR, "bad", "公司", FOOD_FIELDS)]
    size = region.log.size()
    with pytest.raises(InvalidFieldError):
        svc.issue_batch(bad)
    assert region.log.size() == size and svc.store.count() == 0
    views = svc.issue_batch(good)
    assert len({v.identifier for v in views}) == 5 and region.log.size() == size + 5
    audit_ok(region)


def test_concurrent_issuers_get_distinct_serials_and_a_dense_log(region: Region, svc: LicenceService) -> None:
    holders = [SyntheticHolders(i).uscc() for i in range(8)]
    errors: list[BaseException] = []

    def work(holder: str) -> None:
        try:
            issue_food(svc, holder_id=holder)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(h,)) for h in holders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    serials = {v.identifier.split(".")[7] for v in svc.by_issuer(ZZ_AMR)}
    assert len(serials) == 8
    with region.store.engine.connect() as conn:
        leaves = [r[0] for r in conn.execute(text("SELECT leaf_index FROM ledger_events ORDER BY leaf_index"))]
    assert leaves == list(range(len(leaves)))
    audit_ok(region)


def test_a_lost_race_is_reported_not_half_written(region: Region, svc: LicenceService) -> None:
    view = issue_food(svc)
    stale = svc.load(view.id)  # type: ignore[attr-defined]
    svc.suspend(view.id, actor=ZZ_AMR, reason="a")  # type: ignore[attr-defined]
    catalogue = svc.catalogue
    stale.suspend(
        licence_type=catalogue.licence_type(stale.type_code), actor=catalogue.department(ZZ_AMR), now=START, reason="b"
    )
    size = region.log.size()
    with pytest.raises(ConcurrentUpdateError):
        svc.recording.save(list(stale.collect_events()))
    assert region.log.size() == size


def test_catalogue_and_keys_are_ledger_events_and_init_is_idempotent(
    region: Region, db_url: str, tmp_path: Path, fake_clock: FakeClock
) -> None:
    size = region.log.size()
    catalogue = region.catalogue
    assert len(catalogue.licence_types) >= 12 and len(catalogue.departments) >= 12
    issuers = region.registry.issuers()
    assert issuers[0].uscc == HA_AMR and issuers[0].licence_types[0] == "11100000000013338W001"  # 营业执照 first
    assert all(region.registry.keys_of(i.uscc) for i in issuers)  # every issuer has a token key
    again = init_region(region.settings, None, None, None, clock=fake_clock)
    assert again.log.size() == size  # nothing changed, nothing written
    again.close()
    with region.store.engine.connect() as conn:
        topics = {r[0] for r in conn.execute(text("SELECT DISTINCT topic FROM ledger_events"))}
    assert any("CatalogueEntryPublished" in t for t in topics) and any("SigningKeyRegistered" in t for t in topics)
