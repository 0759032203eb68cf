"""The domain's input bounds: times within 1900-2200 UTC, no control or format characters in any free text that lands
in an event, and every bad field of an issue named at once — whoever calls (API, CLI, bulk import)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from demo.synthetic import SyntheticHolders
from licences.catalogue import Catalogue
from licences.domain import Licence
from licences.errors import InvalidFieldError
from licences.import_rows import SourceRecord, parse_row, parse_when, reject_reason
from licences.privacy import HolderData
from licences.values import InvalidFieldsError, bounded, control_character, plain_text
from tests.licences.bulk_rows import food_row
from tests.licences.conftest import COMPANY, FOOD_FIELDS, T0

Issue = Callable[..., Licence]
PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))
HOSTILE = ["\x00", "\u202e", "\u202a", "\u2066", "\u2069", "\u200b", "\ufeff", "\t", "\n", "\x7f", "\x85"]


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=PLUS_14),  # overflows on conversion to UTC
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14),  # likewise, the other way
        datetime(9999, 12, 31, tzinfo=UTC),
        datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2201, 1, 1, tzinfo=UTC),
    ],
)
def test_times_outside_the_range_are_refused_naming_the_field(moment: datetime, issue: Issue) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        bounded(moment, "valid_from")
    assert refused.value.field == "valid_from"
    with pytest.raises(InvalidFieldError) as refused:
        issue(valid_from=moment)
    assert refused.value.field == "valid_from"


def test_the_range_ends_are_accepted_and_naive_times_refused() -> None:
    assert bounded(datetime(1900, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))), "t") == datetime(
        1900, 1, 1, tzinfo=UTC
    )
    assert bounded(datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC), "t").year == 2200
    with pytest.raises(InvalidFieldError, match="timezone-aware"):
        bounded(datetime(2024, 1, 1), "t")


def test_renewal_to_an_out_of_range_end_is_refused(issue: Issue, catalogue: Catalogue) -> None:
    lic = issue()
    assert lic.valid_until is not None
    act: dict[str, Any] = {
        "licence_type": catalogue.licence_type("food-business-licence"),
        "actor": catalogue.department("zz-amr"),
    }
    with pytest.raises(InvalidFieldError) as refused:
        lic.renew(**act, now=lic.valid_until - timedelta(days=1), valid_until=datetime(9999, 12, 31, tzinfo=MINUS_14))
    assert refused.value.field == "valid_until"


@pytest.mark.parametrize("char", HOSTILE)
def test_control_and_format_characters_are_found(char: str) -> None:
    assert control_character(f"张{char}三") == f"U+{ord(char):04X}"
    with pytest.raises(InvalidFieldError):
        plain_text(f"张{char}三", "holder_name")
    assert control_character("张 三 (Zhang San)") is None


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u2067"])
def test_every_free_text_of_the_lifecycle_refuses_control_characters(
    char: str, issue: Issue, catalogue: Catalogue
) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        issue(holder=HolderData(f"郑州{char}鼎盛", COMPANY.id_number))
    assert refused.value.field == "holder_name"
    with pytest.raises(InvalidFieldError) as refused:
        issue(fields={**FOOD_FIELDS, "premises": f"花园路{char}1号"})
    assert refused.value.field == "fields.premises"
    lic = issue()
    act: dict[str, Any] = {
        "licence_type": catalogue.licence_type("food-business-licence"),
        "actor": catalogue.department("zz-amr"),
    }
    with pytest.raises(InvalidFieldError) as refused:
        lic.amend(**act, now=T0, changes={"premises": f"农业路{char}2号"})
    assert refused.value.field == "fields.premises"
    for command in (lic.suspend, lic.revoke):
        with pytest.raises(InvalidFieldError) as refused:
            command(**act, now=T0, reason=f"检查{char}")
        assert refused.value.field == "reason"
    assert list(lic.collect_events())[1:] == []  # nothing but the issue was recorded


def test_an_issue_names_every_bad_field_at_once(issue: Issue) -> None:
    with pytest.raises(InvalidFieldsError) as refused:
        issue(
            holder=HolderData("郑州\x00鼎盛", "123"),
            fields={"premises": "花园路\u202e1号", "no_such_field": "x"},
            valid_from=datetime(1, 1, 1, tzinfo=PLUS_14),
        )
    fields = [e.field for e in refused.value.errors]
    assert refused.value.field == fields[0] == "holder_id"
    assert set(fields) == {
        "holder_id",
        "holder_name",
        "fields.premises",
        "fields.no_such_field",
        "fields.legal_representative",
        "fields.main_format",
        "fields.business_items",
        "valid_from",
    }


def _row(catalogue: Catalogue, **overrides: Any) -> Any:
    return parse_row(SourceRecord(2, food_row(1, SyntheticHolders(seed=3), **overrides)), catalogue, b"k" * 32)


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("holder_name", "郑州\x00鼎盛"),
        ("holder_name", "郑州\u202e鼎盛"),
        ("fields.premises", "花园路\u2066号"),
        ("valid_from", "0001-01-01T00:00:00+14:00"),
        ("valid_from", "9999-12-31"),
        ("valid_until", "9999-12-31T23:59:59-14:00"),
    ],
)
def test_an_import_row_refuses_hostile_values_naming_the_column(catalogue: Catalogue, column: str, value: str) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        _row(catalogue, **{column: value})
    assert refused.value.field == column


def test_an_import_row_refuses_a_control_character_in_the_status_reason(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        _row(catalogue, status="暂扣", status_reason="检查\x00中")
    assert refused.value.field == "status_reason"


def test_an_import_rejects_entry_names_every_bad_field(catalogue: Catalogue) -> None:
    with pytest.raises(InvalidFieldError) as refused:
        _row(catalogue, holder_name="郑州\x00鼎盛", **{"fields.premises": "花园路\u202e号"})
    field, reason = reject_reason(refused.value)
    assert field == "holder_name,fields.premises" and "U+202E" in reason


def test_import_dates_keep_their_offset_within_the_range() -> None:
    assert parse_when("1900-01-01T08:00:00+08:00", "valid_from") == datetime(1900, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidFieldError):
        parse_when("1900-01-01", "valid_from")  # midnight China time is still 1899 in UTC
