"""The packaged catalogue loads and is consistent; the loader rejects malformed data; fields are validated."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest
import yaml

from licences.catalogue import (
    Catalogue,
    FieldType,
    ValidityRule,
    build_catalogue,
    parse_licence_type,
    split_personal,
    validate_fields,
)
from licences.errors import (
    CatalogueError,
    InvalidFieldError,
    UnauthorisedDepartmentError,
    UnknownDepartmentError,
    UnknownLicenceTypeError,
)
from licences.identifiers import parse_uscc

REQUIRED_TYPES = [
    "营业执照",
    "食品经营许可证",
    "药品经营许可证",
    "医疗机构执业许可证",
    "建筑工程施工许可证",
    "不动产权证书",
    "道路运输经营许可证",
    "排污许可证",
    "机动车驾驶证",
    "出生医学证明",
    "结婚证",
    "卫生许可证",
]


def test_packaged_catalogue_holds_the_required_types(catalogue: Catalogue) -> None:
    names = {t.name_zh for t in catalogue.licence_types}
    assert set(REQUIRED_TYPES) <= names
    assert len(catalogue.licence_types) >= 12
    assert catalogue.region.code == "410000"


def test_every_code_in_the_catalogue_is_valid(catalogue: Catalogue) -> None:
    for department in catalogue.departments:
        assert parse_uscc(department.uscc).area_code == department.region_code
    for licence_type in catalogue.licence_types:
        assert len(licence_type.code) == 21
        parse_uscc(licence_type.code[:18])
        assert all(catalogue.department(key) for key in licence_type.issuing_departments)


def test_design_vector_type_code_is_in_the_catalogue(catalogue: Catalogue) -> None:
    assert catalogue.licence_type("11100000000013338W011").name_zh == "食品经营许可证"


def test_lookups(catalogue: Catalogue) -> None:
    samr = catalogue.department("ha-amr")
    assert catalogue.department(samr.uscc) is samr
    assert catalogue.licence_type("business-licence") in catalogue.types_for(samr)
    with pytest.raises(UnknownLicenceTypeError):
        catalogue.licence_type("nope")
    with pytest.raises(UnknownDepartmentError):
        catalogue.department("nope")


def test_first_issuer_first_type_issues_with_no_fields(catalogue: Catalogue) -> None:
    # The CLI contract check issues the first type of the first issuer without any --field.
    first = catalogue.types_for(catalogue.departments[0])[0]
    assert validate_fields(first, {})


def test_unauthorised_department_is_rejected(catalogue: Catalogue) -> None:
    driving = catalogue.licence_type("driving-licence")
    with pytest.raises(UnauthorisedDepartmentError):
        driving.authorise(catalogue.department("zz-amr"))
    driving.authorise(catalogue.department("zz-traffic-police"))


# -- validate_fields ---------------------------------------------------------------------------------------------------


def test_validate_fields_canonicalises_and_fills_defaults(catalogue: Catalogue) -> None:
    driving = catalogue.licence_type("driving-licence")
    fields = {
        "sex": "男",
        "address": " 郑州市金水区 ",
        "date_of_birth": date(1990, 5, 1),
        "first_issued_on": "2012-07-01",
        "vehicle_class": "C1",
    }
    result = validate_fields(driving, fields)
    assert result["nationality"] == "中国"
    assert result["date_of_birth"] == "1990-05-01"
    assert result["address"] == "郑州市金水区"
    public, personal = split_personal(driving, result)
    assert set(personal) == {"sex", "address", "date_of_birth"}
    assert "vehicle_class" in public


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"category": None}, "fields.category"),  # a required field is missing
        ({"colour": "红"}, "fields.colour"),  # unknown field
        ({"beds": "十"}, "fields.beds"),
        ({"beds": True}, "fields.beds"),
        ({"beds": "1e3"}, "fields.beds"),
    ],
)
def test_validate_fields_names_the_bad_field(catalogue: Catalogue, fields: dict[str, Any], field: str) -> None:
    medical = catalogue.licence_type("medical-institution-licence")
    complete = {spec.name: "x" for spec in medical.fields if spec.type is FieldType.STRING} | {"beds": 1}
    given = {k: v for k, v in (complete | fields).items() if v is not None}
    with pytest.raises(InvalidFieldError) as info:
        validate_fields(medical, given)
    assert info.value.field == field
    assert field in str(info.value)


@pytest.mark.parametrize("value", ["2024-02-30", "2024-2-3", "20240203", datetime(2024, 1, 1, tzinfo=UTC), 20240101])
def test_date_fields_are_strict(catalogue: Catalogue, value: object) -> None:
    marriage = catalogue.licence_type("marriage-certificate")
    with pytest.raises(InvalidFieldError, match=r"fields\.registered_on"):
        validate_fields(marriage, {"registered_on": value}, partial=True)


def test_choices_and_lengths_are_enforced(catalogue: Catalogue) -> None:
    driving = catalogue.licence_type("driving-licence")
    with pytest.raises(InvalidFieldError, match=r"fields\.vehicle_class"):
        validate_fields(driving, {"vehicle_class": "Z9"}, partial=True)
    with pytest.raises(InvalidFieldError, match=r"fields\.address"):
        validate_fields(driving, {"address": "路" * 201}, partial=True)
    with pytest.raises(InvalidFieldError, match=r"fields\.address"):
        validate_fields(driving, {"address": "   "}, partial=True)


def test_partial_validation_checks_only_given_fields(catalogue: Catalogue) -> None:
    medical = catalogue.licence_type("medical-institution-licence")
    assert validate_fields(medical, {"beds": "120"}, partial=True) == {"beds": 120}


def test_validity_rule_handles_29_february() -> None:
    start = datetime(2024, 2, 29, 8, tzinfo=UTC)
    assert ValidityRule("fixed_years", 5).valid_until(start) == datetime(2029, 2, 28, 8, tzinfo=UTC)
    assert ValidityRule("fixed_years", 4).valid_until(start) == datetime(2028, 2, 29, 8, tzinfo=UTC)
    assert ValidityRule("no_expiry").valid_until(start) is None


# -- Loader strictness -------------------------------------------------------------------------------------------------

GOOD_TYPE = yaml.safe_load(
    """
code: "11100000000013338W011"
key: food-business-licence
name_zh: 食品经营许可证
name_en: Food Business Licence
holder_kind: organisation
issuing_departments: [zz-amr]
validity: {kind: fixed_years, years: 5}
renewal_window_days: 90
reminders: {lead_days: [90, 30, 7], channels: [sms]}
fields:
  - {name: premises, label_zh: 经营场所, label_en: Premises, type: string, required: true}
"""
)
GOOD_DEPARTMENTS = yaml.safe_load(
    """
region: {code: "410000", name_zh: 河南省, name_en: Henan}
departments:
  - {key: zz-amr, name_zh: 郑州市市场监督管理局, name_en: AMR, uscc: 11410100007409378P, region_code: "410100"}
"""
)


def _broken(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(GOOD_TYPE)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


def test_good_documents_build_a_catalogue() -> None:
    catalogue = build_catalogue(GOOD_DEPARTMENTS, [("t.yaml", GOOD_TYPE)])
    assert catalogue.licence_type("food-business-licence").fields[0].type is FieldType.STRING


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("colour",), "red"),  # unknown key
        (("code",), "11100000000013338W01"),  # too short
        (("code",), "11100000000013338X011"),  # bad USCC check inside the code
        (("code",), "11100000000013338W000"),  # sequence 000
        (("code",), 11100000000013338),  # not a string
        (("holder_kind",), "robot"),
        (("issuing_departments",), []),  # fails closed
        (("validity",), {"kind": "fixed_years"}),
        (("validity",), {"kind": "no_expiry"}),  # no expiry but reminders and a renewal window
        (("renewal_window_days",), True),
        (("reminders", "lead_days"), [7, 30, 90]),  # not descending
        (("reminders", "channels"), ["pigeon"]),
        (("fields", 0, "type"), "float"),
        (("fields", 0, "label_zh"), KeyError),
        (("fields", 0, "hint"), "x"),
        (("fields", 0, "name"), "Premises"),
    ],
)
def test_loader_rejects_malformed_types(path: tuple[Any, ...], value: Any) -> None:
    with pytest.raises(CatalogueError):
        parse_licence_type(_broken(path, value), "t.yaml")


def test_loader_rejects_bad_departments_and_references() -> None:
    bad_uscc = copy.deepcopy(GOOD_DEPARTMENTS)
    bad_uscc["departments"][0]["uscc"] = "11410100007409378Q"
    with pytest.raises(CatalogueError):
        build_catalogue(bad_uscc, [("t.yaml", GOOD_TYPE)])
    with pytest.raises(CatalogueError, match="unknown issuing departments"):
        build_catalogue(GOOD_DEPARTMENTS, [("t.yaml", _broken(("issuing_departments",), ["ha-amr"]))])
    with pytest.raises(CatalogueError, match="duplicate"):
        build_catalogue(GOOD_DEPARTMENTS, [("a.yaml", GOOD_TYPE), ("b.yaml", GOOD_TYPE)])
    with pytest.raises(CatalogueError):
        build_catalogue(GOOD_DEPARTMENTS, [])


def test_field_default_must_satisfy_its_own_spec() -> None:
    with pytest.raises(CatalogueError, match="default"):
        parse_licence_type(_broken(("fields", 0, "default"), ""), "t.yaml")
