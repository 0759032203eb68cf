"""Uses: the decision, refused uses still recorded, one stream per use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from licences.catalogue import Catalogue
from licences.domain import Licence
from licences.errors import InvalidFieldError
from licences.invocation import Invocation, RefusalReason, UseOutcome, decide_use, invocation_id_for
from licences.privacy import holder_digest
from tests.licences.conftest import COMPANY, SALT, T0

Issue = Callable[..., Licence]
USE: dict[str, Any] = {
    "verifier": "郑州市政务服务审批系统",
    "matter_code": "410100-000201-001",
    "purpose": "食品经营许可变更",
}


def test_a_valid_licence_of_the_claimed_holder_is_accepted(issue: Issue) -> None:
    lic = issue()
    assert decide_use(lic, T0, holder_digest(SALT, COMPANY.id_number)) == (UseOutcome.ACCEPTED, None)
    assert decide_use(lic, T0, None) == (UseOutcome.ACCEPTED, None)


def test_refusals(catalogue: Catalogue, issue: Issue) -> None:
    act = {"licence_type": catalogue.licence_type("food-business-licence"), "actor": catalogue.department("zz-amr")}
    lic = issue(valid_from=T0 + timedelta(days=1))
    assert decide_use(lic, T0, None) == (UseOutcome.REFUSED, RefusalReason.NOT_YET_VALID)
    assert decide_use(lic, T0.replace(year=2030), None) == (UseOutcome.REFUSED, RefusalReason.EXPIRED)
    assert decide_use(lic, T0 + timedelta(days=2), b"\x00" * 16) == (UseOutcome.REFUSED, RefusalReason.HOLDER_MISMATCH)
    lic.suspend(**act, now=T0, reason="检查")
    assert decide_use(lic, T0 + timedelta(days=2), None) == (UseOutcome.REFUSED, RefusalReason.SUSPENDED)
    lic.revoke(**act, now=T0, reason="注销")
    assert decide_use(lic, T0 + timedelta(days=2), None) == (UseOutcome.REFUSED, RefusalReason.REVOKED)


def test_refused_use_is_still_recorded_in_its_own_stream(catalogue: Catalogue, issue: Issue) -> None:
    lic = issue()
    lic.revoke(
        licence_type=catalogue.licence_type("food-business-licence"),
        actor=catalogue.department("zz-amr"),
        now=T0,
        reason="注销",
    )
    events_before = len(lic.pending_events)
    use = Invocation.record(licence=lic, now=T0, consent="扫码授权 token#1", **USE)
    assert use.outcome is UseOutcome.REFUSED
    assert use.refusal_reason is RefusalReason.REVOKED
    assert use.id != lic.id
    assert use.licence_id == lic.id
    assert len(use.pending_events) == 1
    assert len(lic.pending_events) == events_before  # the licence stream is untouched


def test_use_without_consent_is_refused(issue: Issue) -> None:
    use = Invocation.record(licence=issue(), now=T0, consent="", **USE)
    assert use.refusal_reason is RefusalReason.NO_CONSENT


def test_idempotent_invocation_ids(issue: Issue) -> None:
    lic = issue()
    assert invocation_id_for(lic.id, "req-1") == invocation_id_for(lic.id, "req-1")
    assert invocation_id_for(lic.id, "req-1") != invocation_id_for(lic.id, "req-2")
    use = Invocation.record(licence=lic, now=T0, consent="ok", invocation_id=invocation_id_for(lic.id, "req-1"), **USE)
    assert use.id == invocation_id_for(lic.id, "req-1")


@pytest.mark.parametrize(
    ("override", "field"),
    [({"matter_code": "事项 1"}, "matter_code"), ({"verifier": " "}, "verifier"), ({"purpose": "x" * 501}, "purpose")],
)
def test_use_inputs_are_validated(issue: Issue, override: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidFieldError) as info:
        Invocation.record(licence=issue(), now=T0, consent="ok", **(USE | override))
    assert info.value.field == field
