"""The catalogue as plain JSON documents, one shape for every reader: `trustledger catalogue`, `GET /v1/catalogue`.

Pure: builds dicts from the catalogue values. Field labels come in both languages (`label_zh`, `label_en`).
"""

from __future__ import annotations

from typing import Any

from licences.catalogue.model import Catalogue, Department, FieldSpec, FieldType, LicenceType, ValidityRule


def field_json(spec: FieldSpec) -> dict[str, Any]:
    """One field: name, labels, value type and its constraints (personal fields are sealed with the holder data)."""
    doc: dict[str, Any] = {
        "name": spec.name,
        "label_zh": spec.label_zh,
        "label_en": spec.label_en,
        "type": spec.type.value,
        "required": spec.required,
        "personal": spec.personal,
    }
    if spec.type is FieldType.STRING:
        doc["max_length"] = spec.max_length
    if spec.choices:
        doc["choices"] = list(spec.choices)
    if spec.default is not None:
        doc["default"] = spec.default
    if spec.role is not None:
        doc["role"] = spec.role.value
    return doc


def validity_json(rule: ValidityRule) -> dict[str, Any]:
    """The validity rule: `fixed_years` with `years`, or `no_expiry` (长期)."""
    return {"kind": rule.kind, "years": rule.years}


def _department_ref(department: Department) -> dict[str, str]:
    return {
        "key": department.key,
        "uscc": department.uscc,
        "name_zh": department.name_zh,
        "name_en": department.name_en,
    }


def type_summary_json(licence_type: LicenceType, catalogue: Catalogue) -> dict[str, Any]:
    """A type in a listing: code, key, names, holder kind and the departments that may issue it."""
    return {
        "code": licence_type.code,
        "key": licence_type.key,
        "name_zh": licence_type.name_zh,
        "name_en": licence_type.name_en,
        "holder_kind": licence_type.holder_kind.value,
        "issuing_departments": [_department_ref(catalogue.department(key)) for key in licence_type.issuing_departments],
    }


def type_json(licence_type: LicenceType, catalogue: Catalogue) -> dict[str, Any]:
    """One type in full: the summary, validity, renewal window, reminders, and its required and optional fields."""
    return type_summary_json(licence_type, catalogue) | {
        "one_per_holder": licence_type.one_per_holder,
        "validity": validity_json(licence_type.validity),
        "renewal_window_days": licence_type.renewal_window_days,
        "reminders": {
            "lead_days": list(licence_type.reminders.lead_days),
            "channels": [c.value for c in licence_type.reminders.channels],
        },
        "required_fields": [field_json(f) for f in licence_type.fields if f.required],
        "optional_fields": [field_json(f) for f in licence_type.fields if not f.required],
    }


def department_json(department: Department, catalogue: Catalogue) -> dict[str, Any]:
    """A department: key, USCC, names, region code and the type codes it may issue."""
    return _department_ref(department) | {
        "region_code": department.region_code,
        "licence_types": [t.code for t in catalogue.types_for(department)],
    }


def catalogue_json(catalogue: Catalogue) -> dict[str, Any]:
    """The whole catalogue: the region, every type in full, every department."""
    region = catalogue.region
    return {
        "region": {"code": region.code, "name_zh": region.name_zh, "name_en": region.name_en},
        "licence_types": [type_json(t, catalogue) for t in catalogue.licence_types],
        "departments": [department_json(d, catalogue) for d in catalogue.departments],
    }
