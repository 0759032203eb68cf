"""The Licence aggregate: issuing, derived status under an injected clock, each invariant rejecting, persistence."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import reduce
from typing import Any

import pytest
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from licences.catalogue import Catalogue
from licences.domain import Licence
from licences.errors import (
    HolderDataShreddedError,
    InvalidFieldError,
    LicenceRevokedError,
    LicenceSuspendedError,
    LifecycleError,
    NothingToAmendError,
    NotSuspendedError,
    ReminderError,
    RenewalNotAllowedError,
    UnauthorisedDepartmentError,
)
from licences.identifiers import parse_identifier
from licences.privacy import HolderData, InMemoryHolderKeyVault, holder_digest
from licences.values import LicenceStatus, Lifecycle, RevocationKind, licence_id_for, stream_key
from tests.licences.conftest import COMPANY, FOOD_FIELDS, SALT, T0

Issue = Callable[..., Licence]
DAY = timedelta(days=1)
END = T0.replace(year=2029)  # five years of 食品经营许可证


def _mapper() -> Mapper[Any]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


def _act(catalogue: Catalogue, department: str = "zz-amr") -> dict[str, Any]:
    return {"licence_type": catalogue.licence_type("food-business-licence"), "actor": catalogue.department(department)}


def test_issue_sets_identifier_validity_and_holder_digest(issue: Issue) -> None:
    lic = issue()
    assert str(lic.identifier).startswith("1.2.156.3005.2.11100000000013338W011.11410100007409378P.20240000001.001.")
    assert parse_identifier(str(lic.identifier)).check_ok
    assert lic.id == licence_id_for(lic.identifier, stream_key(SALT))
    assert (lic.licence_version, lic.valid_from, lic.valid_until) == (1, T0, END)
    assert lic.holder_digest == holder_digest(SALT, COMPANY.id_number).hex()
    assert lic.fields["main_format"] == "餐饮服务经营者"
    assert lic.status_at(T0) is LicenceStatus.VALID


def test_status_is_derived_from_the_clock(issue: Issue) -> None:
    lic = issue(valid_from=T0 + 10 * DAY)
    assert lic.status_at(T0) is LicenceStatus.NOT_YET_VALID
    assert lic.status_at(T0 + 10 * DAY) is LicenceStatus.VALID
    end = lic.valid_until
    assert end is not None
    assert lic.status_at(end - timedelta(microseconds=1)) is LicenceStatus.VALID
    assert lic.status_at(end) is LicenceStatus.EXPIRED
    # Expiry is never an event: asking for the status records nothing.
    assert len(lic.pending_events) == 1


def test_status_accepts_any_aware_zone_and_refuses_naive(issue: Issue) -> None:
    lic = issue()
    beijing = timezone(timedelta(hours=8))
    assert lic.status_at(END.astimezone(beijing) - DAY) is LicenceStatus.VALID
    with pytest.raises(InvalidFieldError, match="now"):
        lic.status_at(datetime(2025, 1, 1))


def test_licence_without_expiry_never_expires(
    catalogue: Catalogue, vault: InMemoryHolderKeyVault, issue: Issue
) -> None:
    lic = issue(
        licence_type=catalogue.licence_type("business-licence"), issuer=catalogue.department("ha-amr"), fields={}
    )
    assert lic.valid_until is None
    assert lic.fields == {"enterprise_type": "有限责任公司", "business_term": "长期"}
    assert lic.status_at(T0.replace(year=2200)) is LicenceStatus.VALID


def test_suspend_reinstate_revoke(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.suspend(**_act(catalogue), now=T0 + DAY, reason="日常检查发现问题")
    assert lic.status_at(T0 + 2 * DAY) is LicenceStatus.SUSPENDED
    lic.reinstate(**_act(catalogue), now=T0 + 3 * DAY)
    assert lic.status_at(T0 + 3 * DAY) is LicenceStatus.VALID
    lic.revoke(**_act(catalogue), now=T0 + 4 * DAY, reason="吊销", kind=RevocationKind.PENALTY)
    assert lic.status_at(T0 + 4 * DAY) is LicenceStatus.REVOKED
    assert lic.revocation == (RevocationKind.PENALTY, "吊销")


# -- Each invariant, shown rejecting ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "kwargs"),
    [
        ("renew", {}),
        ("amend", {"changes": {"premises": "新地址"}}),
        ("suspend", {"reason": "x"}),
        ("reinstate", {}),
        ("revoke", {"reason": "x"}),
    ],
)
def test_nothing_but_reading_after_revocation(catalogue: Catalogue, issue: Issue, command: str, kwargs: Any) -> None:
    lic = issue()
    lic.revoke(**_act(catalogue), now=T0, reason="申请注销")
    with pytest.raises(LicenceRevokedError):
        getattr(lic, command)(**_act(catalogue), now=END - DAY, **kwargs)
    with pytest.raises(LicenceRevokedError):
        lic.record_sealed_document(pdf_sha256="0" * 64, now=T0)


def test_reinstate_requires_suspension(catalogue: Catalogue, issue: Issue) -> None:
    with pytest.raises(NotSuspendedError):
        issue().reinstate(**_act(catalogue), now=T0)


def test_no_double_suspension_and_no_renewal_while_suspended(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.suspend(**_act(catalogue), now=T0, reason="x")
    with pytest.raises(LicenceSuspendedError):
        lic.suspend(**_act(catalogue), now=T0, reason="again")
    with pytest.raises(LicenceSuspendedError):
        lic.renew(**_act(catalogue), now=END - DAY)


@pytest.mark.parametrize("moment", [END - 91 * DAY, END, END + DAY])
def test_renewal_only_inside_the_window_before_expiry(catalogue: Catalogue, issue: Issue, moment: datetime) -> None:
    with pytest.raises(RenewalNotAllowedError):
        issue().renew(**_act(catalogue), now=moment)


def test_renewal_of_a_licence_without_expiry_is_refused(catalogue: Catalogue, issue: Issue) -> None:
    business = {"licence_type": catalogue.licence_type("business-licence"), "actor": catalogue.department("ha-amr")}
    lic = issue(issuer=business["actor"], licence_type=business["licence_type"], fields={})
    with pytest.raises(RenewalNotAllowedError):
        lic.renew(**business, now=T0)


def test_renewal_moves_version_identifier_and_period(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.renew(**_act(catalogue), now=END - 30 * DAY)
    assert lic.licence_version == 2
    assert lic.identifier.version == 2
    assert lic.identifier.check_ok
    assert (lic.valid_from, lic.valid_until) == (END - 30 * DAY, END.replace(year=2034))
    assert lic.status_at(END - 30 * DAY) is LicenceStatus.VALID  # no gap between the versions
    assert lic.id == licence_id_for(lic.identifier, stream_key(SALT))
    with pytest.raises(InvalidFieldError, match="valid_until"):
        lic.renew(**_act(catalogue), now=END.replace(year=2034) - DAY, valid_until=END)


def test_only_authorised_departments_act(catalogue: Catalogue, issue: Issue) -> None:
    with pytest.raises(UnauthorisedDepartmentError):
        issue(issuer=catalogue.department("zz-hc"))
    lic = issue()
    with pytest.raises(UnauthorisedDepartmentError):
        lic.suspend(**_act(catalogue, "ha-mpa"), now=T0, reason="x")
    wrong_type = {"licence_type": catalogue.licence_type("hygiene-licence"), "actor": catalogue.department("zz-hc")}
    with pytest.raises(UnauthorisedDepartmentError):
        lic.suspend(**wrong_type, now=T0, reason="x")


def test_holder_must_match_the_type_holder_kind(catalogue: Catalogue, issue: Issue) -> None:
    with pytest.raises(InvalidFieldError) as info:
        issue(holder=HolderData("张伟", "11010519491231002X"))
    assert info.value.field == "holder_id"


def test_issue_validates_fields_and_validity(catalogue: Catalogue, issue: Issue) -> None:
    with pytest.raises(InvalidFieldError) as info:
        issue(fields={"premises": "x"})
    assert info.value.field.startswith("fields.")
    with pytest.raises(InvalidFieldError, match="valid_until"):
        issue(valid_until=T0 - DAY)
    with pytest.raises(InvalidFieldError, match="valid_from"):
        issue(valid_from=datetime(2024, 1, 1))


def test_amend_changes_fields_and_refuses_no_op(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.amend(**_act(catalogue), now=T0 + DAY, changes={"premises": "郑州市中原区建设路2号"})
    assert lic.fields["premises"] == "郑州市中原区建设路2号"
    assert lic.licence_version == 2
    with pytest.raises(NothingToAmendError):
        lic.amend(**_act(catalogue), now=T0 + DAY, changes={"premises": "郑州市中原区建设路2号"})


def test_holder_data_is_resealed_on_amendment_and_shredded_with_the_key(
    catalogue: Catalogue, vault: InMemoryHolderKeyVault, issue: Issue
) -> None:
    lic = issue()
    with pytest.raises(LifecycleError):
        lic.amend(**_act(catalogue), now=T0, changes={}, holder_name="郑州鼎盛商贸股份有限公司")
    key = vault.get(COMPANY.id_number)
    lic.amend(**_act(catalogue), now=T0, changes={}, holder_key=key, holder_name="郑州鼎盛商贸股份有限公司")
    assert lic.holder(key).name == "郑州鼎盛商贸股份有限公司"
    vault.shred(COMPANY.id_number)
    with pytest.raises(HolderDataShreddedError):
        lic.holder(vault.get(COMPANY.id_number))


def test_personal_fields_never_appear_in_plain(catalogue: Catalogue, vault: InMemoryHolderKeyVault) -> None:
    driver = HolderData("王芳", "410105199003070026")
    fields = {
        "sex": "女",
        "address": "郑州市金水区经三路99号",
        "date_of_birth": "1990-03-07",
        "first_issued_on": "2012-07-01",
        "vehicle_class": "C1",
    }
    key = vault.get_or_create(driver.id_number)
    lic = Licence.issue(
        licence_type=catalogue.licence_type("driving-licence"),
        issuer=catalogue.department("zz-traffic-police"),
        serial="410100000001",
        holder=driver,
        holder_key=key,
        holder_salt=SALT,
        fields=fields,
        valid_from=T0,
        now=T0,
    )
    state = b"".join(_mapper().to_stored_event(e).state for e in lic.collect_events())
    for secret in ("王芳", "410105199003070026", "经三路", "1990-03-07"):
        assert secret.encode() not in state
    assert lic.holder(key).personal_fields["address"] == "郑州市金水区经三路99号"
    assert "address" not in lic.fields


def test_reminders_once_per_stage_and_only_the_tightest(catalogue: Catalogue, issue: Issue) -> None:
    food = catalogue.licence_type("food-business-licence")
    lic = issue()
    assert lic.due_reminder_stage(food, END - 91 * DAY) is None
    assert lic.due_reminder_stage(food, END - 90 * DAY) == 90
    lic.record_reminder(licence_type=food, stage=90, now=END - 90 * DAY)
    with pytest.raises(ReminderError):
        lic.record_reminder(licence_type=food, stage=90, now=END - 89 * DAY)
    assert lic.due_reminder_stage(food, END - 80 * DAY) is None
    assert lic.due_reminder_stage(food, END - 3 * DAY) == 7  # after downtime: skip the 30-day stage
    lic.renew(**_act(catalogue), now=END - 3 * DAY)
    assert lic.due_reminder_stage(food, END.replace(year=2034) - 90 * DAY) == 90  # a new period starts afresh


def test_sealed_document_hash_is_checked(issue: Issue) -> None:
    lic = issue()
    with pytest.raises(InvalidFieldError, match="pdf_sha256"):
        lic.record_sealed_document(pdf_sha256="ABC", now=T0)
    lic.record_sealed_document(pdf_sha256="ab" * 32, now=T0)
    assert lic.sealed_documents[0].licence_version == 1


def test_import_keeps_a_bad_identifier_flagged(catalogue: Catalogue, vault: InMemoryHolderKeyVault) -> None:
    good = "1.2.156.3005.2.11100000000013338W011.11410100007409378P.20190000007.002."
    bad_check = next(c for c in "0123456789" if parse_identifier(good + c, strict=False).check_ok is False)
    lic = Licence.import_existing(
        licence_type=catalogue.licence_type("food-business-licence"),
        issuer=catalogue.department("zz-amr"),
        identifier=good + bad_check,
        holder=COMPANY,
        holder_key=vault.get_or_create(COMPANY.id_number),
        holder_salt=SALT,
        fields={**FOOD_FIELDS, "main_format": "单位食堂"},
        valid_from=T0.replace(year=2019),
        now=T0,
    )
    assert str(lic.identifier) == good + bad_check
    assert not lic.identifier.check_ok
    assert lic.licence_version == 2


# -- Persistence through eventsourcing's JSON transcoder -----------------------------------------------------------


def test_events_round_trip_through_the_json_transcoder(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.amend(**_act(catalogue), now=T0 + DAY, changes={"premises": "新地址"})
    lic.suspend(**_act(catalogue), now=T0 + 2 * DAY, reason="检查")
    lic.reinstate(**_act(catalogue), now=T0 + 3 * DAY)
    lic.record_reminder(licence_type=_act(catalogue)["licence_type"], stage=30, now=END - 30 * DAY)
    lic.renew(**_act(catalogue), now=END - 29 * DAY)
    lic.record_sealed_document(pdf_sha256="cd" * 32, now=END - 29 * DAY)
    lic.revoke(**_act(catalogue), now=END, reason="注销")
    mapper = _mapper()
    stored = [mapper.to_stored_event(e) for e in lic.collect_events()]
    # Topics are part of the stored data: event classes never move or get renamed.
    assert [s.topic.split(":")[1] for s in stored] == [
        "LicenceIssued",
        "LicenceAmended",
        "LicenceSuspended",
        "LicenceReinstated",
        "ExpiryReminderSent",
        "LicenceRenewed",
        "DocumentSealed",
        "LicenceRevoked",
    ]
    assert {s.topic.split(":")[0] for s in stored} == {"licences.domain"}
    replayed = reduce(lambda agg, s: mapper.to_domain_event(s).mutate(agg), stored, None)
    assert replayed == lic
    assert replayed.lifecycle is Lifecycle.REVOKED


def test_lifecycle_payloads_cannot_be_guessed_from_their_public_digest(catalogue: Catalogue, issue: Issue) -> None:
    """Two licences suspended on the same day for the same reason by the same department: without a random member
    the two payloads (and so the `payload_sha256` on the public log) would be equal, and guessable."""
    mapper = _mapper()
    states = []
    for serial in ("20240000001", "20240000002"):
        lic = issue(serial=serial)
        lic.collect_events()
        lic.suspend(**_act(catalogue), now=T0 + DAY, reason="检查")
        lic.reinstate(**_act(catalogue), now=T0 + 2 * DAY, reason="")
        lic.revoke(**_act(catalogue), now=T0 + 3 * DAY, reason="注销")
        states.append([mapper.to_stored_event(e).state for e in lic.collect_events()])
    for first, second in zip(states[0], states[1], strict=True):
        assert first != second
        assert len(json.loads(first)["nonce"]) == 32


def test_events_recorded_before_nonces_still_load(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.suspend(**_act(catalogue), now=T0 + DAY, reason="检查")
    lic.revoke(**_act(catalogue), now=T0 + 2 * DAY, reason="吊销", kind=RevocationKind.PENALTY)
    mapper = _mapper()
    stored = []
    for event in lic.collect_events():
        s = mapper.to_stored_event(event)
        state = json.loads(s.state)
        if "nonce" in state:  # as the first release wrote them: class_version 1, no nonce
            del state["nonce"]
            state["class_version"] = 1
        stored.append(replace(s, state=json.dumps(state).encode()))
    replayed = reduce(lambda agg, s: mapper.to_domain_event(s).mutate(agg), stored, None)
    assert replayed.lifecycle is Lifecycle.REVOKED
    assert replayed.revocation == (RevocationKind.PENALTY, "吊销")
