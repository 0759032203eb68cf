"""Strict loading of the catalogue from its packaged YAML data.

`departments.yaml` holds the region and its departments; every other `*.yaml` in this package is one licence type.
(The reminder message templates live with the reminders package, in `reminders/messages.yaml`.)
Unknown keys, missing keys, wrong types, bad codes and dangling references are `CatalogueError`s naming the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from typing import Any, TypeVar

import yaml

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
)
from licences.errors import CatalogueError, InvalidFieldError
from licences.identifiers import HolderKind, parse_uscc

DEPARTMENTS_FILE = "departments.yaml"
MAX_FILE_BYTES = 256 * 1024
_TYPE_CODE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}(?!000)[0-9]{3}")
_KEY = re.compile(r"[a-z][a-z0-9_-]{1,39}")
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_REGION_CODE = re.compile(r"[1-9][0-9]{5}")
_T = TypeVar("_T")


class _Doc:
    """A mapping being read: every `take` consumes a key, and `done()` rejects whatever is left over."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CatalogueError(f"{where}: expected a mapping with string keys")
        self._left: dict[str, Any] = dict(value)
        self.where = where

    def take(self, key: str, kind: type[_T], default: _T | None = None) -> _T:
        """Consume `key`, which must hold a `kind` (bool is never an int here)."""
        if key not in self._left:
            if default is not None:
                return default
            raise CatalogueError(f"{self.where}: missing key {key!r}")
        value = self._left.pop(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise CatalogueError(f"{self.where}.{key}: expected {kind.__name__}, got {type(value).__name__}")
        return value

    def take_text(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        """Consume a non-empty string, optionally matching `pattern` in full."""
        value = self.take(key, str)
        if not value or (pattern is not None and pattern.fullmatch(value) is None):
            raise CatalogueError(f"{self.where}.{key}: malformed value {value!r}")
        return value

    def take_optional(self, key: str) -> object:
        """Consume `key` if present, whatever it holds; None when absent."""
        return self._left.pop(key, None)

    def done(self) -> None:
        """Reject unknown keys."""
        if self._left:
            raise CatalogueError(f"{self.where}: unknown keys {sorted(self._left)}")


def parse_departments(document: object, where: str = DEPARTMENTS_FILE) -> tuple[Region, tuple[Department, ...]]:
    """Parse the departments document: `region` and a list of `departments` with valid USCCs in the region."""
    doc = _Doc(document, where)
    region_doc = _Doc(doc.take("region", dict), f"{where}.region")
    region = Region(
        region_doc.take_text("code", _REGION_CODE), region_doc.take_text("name_zh"), region_doc.take_text("name_en")
    )
    region_doc.done()
    departments = tuple(
        _parse_department(item, f"{where}.departments[{i}]", region)
        for i, item in enumerate(doc.take("departments", list))
    )
    doc.done()
    _reject_duplicates([d.key for d in departments] + [d.uscc for d in departments], where)
    return region, departments


def _parse_department(item: object, where: str, region: Region) -> Department:
    doc = _Doc(item, where)
    department = Department(
        key=doc.take_text("key", _KEY),
        name_zh=doc.take_text("name_zh"),
        name_en=doc.take_text("name_en"),
        uscc=_uscc(doc.take_text("uscc"), f"{where}.uscc"),
        region_code=doc.take_text("region_code", _REGION_CODE),
    )
    doc.done()
    if department.uscc[2:8] != department.region_code:
        raise CatalogueError(
            f"{where}: USCC area code {department.uscc[2:8]} is not region_code {department.region_code}"
        )
    if department.region_code[:2] != region.code[:2]:
        raise CatalogueError(f"{where}: region_code {department.region_code} is outside region {region.code}")
    return department


def parse_licence_type(document: object, where: str) -> LicenceType:
    """Parse one licence type document strictly (see the packaged YAML files for the shape)."""
    doc = _Doc(document, where)
    code = doc.take_text("code")
    if _TYPE_CODE.fullmatch(code) is None:
        raise CatalogueError(f"{where}.code: {code!r} is not an 18-character USCC followed by a 3-digit sequence")
    _uscc(code[:18], f"{where}.code")
    licence_type = LicenceType(
        code=code,
        key=doc.take_text("key", _KEY),
        name_zh=doc.take_text("name_zh"),
        name_en=doc.take_text("name_en"),
        holder_kind=_enum(HolderKind, doc.take_text("holder_kind"), f"{where}.holder_kind"),
        issuing_departments=tuple(_strings(doc.take("issuing_departments", list), f"{where}.issuing_departments")),
        validity=_parse_validity(doc.take("validity", dict), f"{where}.validity"),
        renewal_window_days=doc.take("renewal_window_days", int),
        reminders=_parse_reminders(doc.take("reminders", dict), f"{where}.reminders"),
        fields=tuple(_parse_field(item, f"{where}.fields[{i}]") for i, item in enumerate(doc.take("fields", list))),
        one_per_holder=doc.take("one_per_holder", bool, False),
    )
    doc.done()
    _check_licence_type(licence_type, where)
    return licence_type


def _check_licence_type(t: LicenceType, where: str) -> None:
    if not t.issuing_departments:
        raise CatalogueError(f"{where}: no issuing department: a type nobody may issue fails closed")
    _reject_duplicates(list(t.issuing_departments), f"{where}.issuing_departments")
    _reject_duplicates([f.name for f in t.fields], f"{where}.fields")
    if not 0 <= t.renewal_window_days <= 366:
        raise CatalogueError(f"{where}.renewal_window_days: must be 0..366")
    if t.validity.years is None and (t.renewal_window_days or t.reminders.lead_days):
        raise CatalogueError(f"{where}: a type without expiry has no renewal window and no reminders")
    if t.validity.years is not None and t.renewal_window_days == 0:
        raise CatalogueError(f"{where}.renewal_window_days: a type that expires needs a renewal window")
    _check_roles(t, where)


def _check_roles(t: LicenceType, where: str) -> None:
    """A restated fact or a period end appears once; facts of a person's ID number only on types a person may hold."""
    for role in (FieldRole.BIRTH_DATE, FieldRole.SEX, FieldRole.PERIOD_START, FieldRole.PERIOD_END):
        if len(t.fields_with(role)) > 1:
            raise CatalogueError(f"{where}.fields: more than one {role.value} field")
    if bool(t.fields_with(FieldRole.PERIOD_START)) != bool(t.fields_with(FieldRole.PERIOD_END)):
        raise CatalogueError(f"{where}.fields: period_start and period_end go together")
    personal_facts = t.fields_with(FieldRole.BIRTH_DATE) + t.fields_with(FieldRole.SEX)
    if t.holder_kind is HolderKind.ORGANISATION and personal_facts:
        raise CatalogueError(f"{where}.fields: an organisation's licence restates no birth date or sex")


def _parse_validity(item: object, where: str) -> ValidityRule:
    doc = _Doc(item, where)
    kind = doc.take_text("kind")
    if kind == "no_expiry":
        rule = ValidityRule("no_expiry")
    elif kind == "fixed_years":
        years = doc.take("years", int)
        if not 1 <= years <= 100:
            raise CatalogueError(f"{where}.years: must be 1..100")
        rule = ValidityRule("fixed_years", years)
    else:
        raise CatalogueError(f"{where}.kind: expected fixed_years or no_expiry, got {kind!r}")
    doc.done()
    return rule


def _parse_reminders(item: object, where: str) -> ReminderPolicy:
    doc = _Doc(item, where)
    lead_days = doc.take("lead_days", list)
    channels = doc.take("channels", list)
    doc.done()
    if not all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 366 for d in lead_days):
        raise CatalogueError(f"{where}.lead_days: expected whole days 1..366")
    if lead_days != sorted(set(lead_days), reverse=True):
        raise CatalogueError(f"{where}.lead_days: must be unique and in descending order")
    if bool(lead_days) != bool(channels):
        raise CatalogueError(f"{where}: lead days and channels go together")
    parsed_channels = tuple(_enum(Channel, c, f"{where}.channels") for c in _strings(channels, f"{where}.channels"))
    _reject_duplicates(list(parsed_channels), f"{where}.channels")
    return ReminderPolicy(tuple(lead_days), parsed_channels)


def _parse_field(item: object, where: str) -> FieldSpec:
    doc = _Doc(item, where)
    spec = FieldSpec(
        name=doc.take_text("name", _FIELD_NAME),
        label_zh=doc.take_text("label_zh"),
        label_en=doc.take_text("label_en"),
        type=_enum(FieldType, doc.take_text("type"), f"{where}.type"),
        required=doc.take("required", bool),
        max_length=doc.take("max_length", int, 200),
        choices=tuple(_strings(doc.take("choices", list, []), f"{where}.choices")),
        personal=doc.take("personal", bool, False),
        role=_role(doc.take_optional("role"), f"{where}.role"),
    )
    raw_default = doc.take_optional("default")
    doc.done()
    if not 1 <= spec.max_length <= 2000:
        raise CatalogueError(f"{where}.max_length: must be 1..2000")
    if spec.choices and spec.type is not FieldType.STRING:
        raise CatalogueError(f"{where}.choices: only string fields have choices")
    wanted = FieldType.STRING if spec.role is FieldRole.SEX else FieldType.DATE
    if spec.role is not None and spec.type is not wanted:
        raise CatalogueError(f"{where}.role: a {spec.role.value} field is of type {wanted.value}")
    if raw_default is None:
        return spec
    try:
        default: FieldValue = spec.coerce(raw_default)
    except InvalidFieldError as exc:
        raise CatalogueError(f"{where}.default: {exc.reason}") from None
    return FieldSpec(**{**_as_kwargs(spec), "default": default})


def _role(value: object, where: str) -> FieldRole | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise CatalogueError(f"{where}: expected str, got {type(value).__name__}")
    return _enum(FieldRole, value, where)


def _as_kwargs(spec: FieldSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in FieldSpec.__dataclass_fields__}


def build_catalogue(departments_document: object, type_documents: Iterable[tuple[str, object]]) -> Catalogue:
    """Build a catalogue from parsed documents, checking every reference and that codes and keys are unique."""
    region, departments = parse_departments(departments_document)
    licence_types = tuple(parse_licence_type(doc, where) for where, doc in type_documents)
    if not licence_types:
        raise CatalogueError("the catalogue has no licence types")
    _reject_duplicates([t.code for t in licence_types] + [t.key for t in licence_types], "catalogue")
    known = {d.key for d in departments}
    for t in licence_types:
        unknown = sorted(set(t.issuing_departments) - known)
        if unknown:
            raise CatalogueError(f"{t.key}: unknown issuing departments {unknown}")
    return Catalogue(region, departments, licence_types)


def catalogue_documents() -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """The packaged catalogue as raw documents: (departments document, [(file name, licence type document)])."""
    package = files("licences.catalogue")
    documents: dict[str, object] = {
        entry.name: _read_yaml(entry.read_bytes(), entry.name)
        for entry in sorted(package.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }
    if DEPARTMENTS_FILE not in documents:
        raise CatalogueError(f"{DEPARTMENTS_FILE} is missing from the catalogue")
    departments = documents.pop(DEPARTMENTS_FILE)
    if not isinstance(departments, dict) or not all(isinstance(d, dict) for d in documents.values()):
        raise CatalogueError("catalogue documents must be mappings")
    return departments, [(name, doc) for name, doc in documents.items() if isinstance(doc, dict)]


@cache
def load_catalogue() -> Catalogue:
    """Load and validate the packaged catalogue (read once per process; the result is immutable)."""
    departments, types = catalogue_documents()
    return build_catalogue(departments, types)


def _read_yaml(data: bytes, where: str) -> object:
    if len(data) > MAX_FILE_BYTES:
        raise CatalogueError(f"{where}: larger than {MAX_FILE_BYTES} bytes")
    try:
        return yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{where}: not valid UTF-8 YAML: {exc}") from None


def _uscc(text: str, where: str) -> str:
    try:
        return parse_uscc(text, where).value
    except InvalidFieldError as exc:
        raise CatalogueError(str(exc)) from None


_E = TypeVar("_E", HolderKind, Channel, FieldType, FieldRole)


def _enum(enum: type[_E], value: str, where: str) -> _E:
    try:
        return enum(value)
    except ValueError:
        raise CatalogueError(f"{where}: {value!r} is not one of {[e.value for e in enum]}") from None


def _strings(values: list[Any], where: str) -> list[str]:
    if not all(isinstance(v, str) and v for v in values):
        raise CatalogueError(f"{where}: expected a list of non-empty strings")
    return values


def _reject_duplicates(values: list[Any], where: str) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise CatalogueError(f"{where}: duplicate {value!r}")
        seen.add(value)
