"""The licence catalogue (证照目录): licence types and issuing departments, as data.

The YAML files in this package are the data; `model` holds the values and `validate_fields`, `loader` parses strictly.
(The catalogue is a package rather than a `catalogue.py` module so that its data files are package data beside it.)
"""

from licences.catalogue.describe import catalogue_json, department_json, type_json, type_summary_json
from licences.catalogue.loader import (
    build_catalogue,
    catalogue_documents,
    load_catalogue,
    parse_departments,
    parse_licence_type,
)
from licences.catalogue.model import (
    Catalogue,
    Channel,
    Department,
    FieldRole,
    FieldSpec,
    FieldType,
    FieldValue,
    LicenceType,
    Region,
    ReminderPolicy,
    ValidityRule,
    close_matches,
    split_personal,
    validate_fields,
)

__all__ = [
    "Catalogue",
    "Channel",
    "Department",
    "FieldRole",
    "FieldSpec",
    "FieldType",
    "FieldValue",
    "LicenceType",
    "Region",
    "ReminderPolicy",
    "ValidityRule",
    "build_catalogue",
    "catalogue_documents",
    "catalogue_json",
    "close_matches",
    "department_json",
    "load_catalogue",
    "parse_departments",
    "parse_licence_type",
    "split_personal",
    "type_json",
    "type_summary_json",
    "validate_fields",
]
