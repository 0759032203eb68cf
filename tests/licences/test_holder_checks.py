"""Fields that restate the holder's ID number, dates that must fit the holder's life, and the catalogue's roles."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from licences.catalogue import Catalogue, FieldRole, parse_licence_type
from licences.catalogue.loader import catalogue_documents
from licences.domain import Licence
from licences.errors import CatalogueError, InvalidFieldError
from licences.privacy import HolderData
from licences.values import InvalidFieldsError
from tests.licences.conftest import COMPANY, T0

DRIVER = HolderData("王芳", "410105199003070026")  # born 1990-03-07; 17th digit 2: female
DRIVING = {
    "sex": "女",
    "address": "郑州市金水区经三路99号",
    "date_of_birth": "1990-03-07",
    "first_issued_on": "2012-07-01",
    "vehicle_class": "C1",
}


@pytest.fixture
def drive(catalogue: Catalogue, issue: Callable[..., Licence]) -> Callable[..., Licence]:
    def _drive(**fields: Any) -> Licence:
        return issue(
            licence_type=catalogue.licence_type("driving-licence"),
            issuer=catalogue.department("zz-traffic-police"),
            holder=DRIVER,
            fields={**DRIVING, **fields},
        )

    return _drive


def _fields_named(exc: pytest.ExceptionInfo[InvalidFieldError]) -> set[str]:
    errors = exc.value.errors if isinstance(exc.value, InvalidFieldsError) else (exc.value,)
    return {e.field for e in errors}


def test_consistent_fields_are_accepted(drive: Callable[..., Licence]) -> None:
    assert drive().type_code


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"sex": "男"}, {"fields.sex"}),
        ({"date_of_birth": "1990-03-08"}, {"fields.date_of_birth"}),
        ({"sex": "男", "date_of_birth": "1991-01-01"}, {"fields.sex", "fields.date_of_birth"}),
        ({"first_issued_on": "1989-12-31"}, {"fields.first_issued_on"}),  # before birth
        ({"first_issued_on": "2024-03-02"}, {"fields.first_issued_on"}),  # after valid_from (and in the future)
    ],
)
def test_fields_that_contradict_the_id_number_or_the_holders_life_are_refused(
    drive: Callable[..., Licence], fields: dict[str, str], named: set[str]
) -> None:
    with pytest.raises(InvalidFieldError) as exc:
        drive(**fields)
    assert _fields_named(exc) == named


def test_a_fact_after_valid_from_is_refused_even_when_the_licence_starts_later(
    catalogue: Catalogue, issue: Callable[..., Licence]
) -> None:
    later = T0 + timedelta(days=30)
    kwargs: dict[str, Any] = {
        "licence_type": catalogue.licence_type("driving-licence"),
        "issuer": catalogue.department("zz-traffic-police"),
        "holder": DRIVER,
        "valid_from": later,
    }
    issue(**kwargs, fields={**DRIVING, "first_issued_on": "2024-03-01"})  # today, before the start: fine
    with pytest.raises(InvalidFieldError, match="in the future") as exc:
        issue(**kwargs, fields={**DRIVING, "first_issued_on": "2024-03-15"})
    assert exc.value.field == "fields.first_issued_on"


def test_a_licence_cannot_start_before_its_holder_was_born(drive: Callable[..., Licence], catalogue: Catalogue) -> None:
    baby = HolderData("李小宝", "410105202403100014")  # born 2024-03-10, after T0 (2024-03-01)
    with pytest.raises(InvalidFieldError) as exc:
        Licence.issue(
            licence_type=catalogue.licence_type("birth-medical-certificate"),
            issuer=catalogue.department("ha-peoples-hospital"),
            serial="20240000001",
            holder=baby,
            holder_key=b"k" * 32,
            holder_salt=b"s",
            fields={"sex": "男", "born_on": "2024-03-10", "birthplace": "河南省人民医院", "mother_name": "王芳"},
            valid_from=T0,
            now=T0 + timedelta(days=30),
        )
    assert _fields_named(exc) == {"fields.born_on", "valid_from"}


def test_a_period_ends_after_it_starts(catalogue: Catalogue, issue: Callable[..., Licence]) -> None:
    fields = {
        "project_name": "金水科技园一期",
        "site_address": "郑州市金水区",
        "scale": "3万平方米",
        "contract_price": 5000,
        "designer": "甲设计院",
        "contractor": "乙建设集团",
        "supervisor": "丙监理公司",
        "contract_start": "2024-03-01",
        "contract_end": "2024-02-01",
    }
    with pytest.raises(InvalidFieldError) as exc:
        issue(
            licence_type=catalogue.licence_type("construction-permit"),
            issuer=catalogue.department("zz-urcd"),
            holder=COMPANY,
            fields=fields,
        )
    assert exc.value.field == "fields.contract_end"


def test_the_catalogue_marks_the_roles_and_the_one_per_holder_types(catalogue: Catalogue) -> None:
    driving = catalogue.licence_type("driving-licence")
    assert driving.one_per_holder and catalogue.licence_type("physician-licence").one_per_holder
    assert not catalogue.licence_type("food-business-licence").one_per_holder
    assert [s.name for s in driving.fields_with(FieldRole.BIRTH_DATE)] == ["date_of_birth"]
    assert [s.name for s in driving.fields_with(FieldRole.SEX)] == ["sex"]
    for t in catalogue.licence_types:  # every field named like a restated fact has its role
        for spec in t.fields:
            if spec.name in {"sex", "date_of_birth", "born_on"}:
                assert spec.role is not None, (t.key, spec.name)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["fields"][0].update(role="birth_date"), "of type date"),  # sex is a string
        (lambda d: d["fields"][3].update(role="wisdom"), "not one of"),
        (lambda d: d.update(one_per_holder="yes"), "expected bool"),
        (lambda d: d.update(holder_kind="organisation"), "restates no birth date"),
    ],
)
def test_bad_roles_are_catalogue_errors(change: Callable[[dict[str, Any]], None], message: str) -> None:
    _, types = catalogue_documents()
    document = next(doc for name, doc in types if doc["key"] == "driving-licence")
    change(document)
    with pytest.raises(CatalogueError, match=message):
        parse_licence_type(document, "driving")
