"""The licence catalogue (证照目录) as values: types, field schemas, validity rules, departments.

Pure: no I/O. `licences.catalogue.loader` builds these from the packaged YAML data.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from clock import CHINA_TIME
from licences.errors import (
    InvalidFieldError,
    UnauthorisedDepartmentError,
    UnknownDepartmentError,
    UnknownLicenceTypeError,
)
from licences.identifiers import HolderKind

_CHINA = CHINA_TIME  # the calendar validity periods are counted on

FieldValue = str | int
"""A validated licence field value: JSON-safe, dates as ISO `YYYY-MM-DD` strings."""

_INT = re.compile(r"-?[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class FieldType(StrEnum):
    """The value type of a licence field."""

    STRING = "string"
    DATE = "date"
    INT = "int"


class FieldRole(StrEnum):
    """What a field means beyond its type, for the checks of `licences.holder_checks`.

    - `birth_date`, `sex`: the field restates what the holder's resident ID number encodes (GB 11643) and must agree;
    - `past_date`: a date that has happened by the time the licence is valid (初次领证日期, 登记日期, 成立日期): not
      before the holder's birth, not after `valid_from`, not in the future;
    - `period_start`, `period_end`: the two ends of a period the field pair describes (合同开工/竣工日期): in order.
    """

    BIRTH_DATE = "birth_date"
    SEX = "sex"
    PAST_DATE = "past_date"
    PERIOD_START = "period_start"
    PERIOD_END = "period_end"


class Channel(StrEnum):
    """A channel an expiry reminder goes out through."""

    SMS = "sms"
    EMAIL = "email"
    WEBHOOK = "webhook"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a licence type's schema. `personal` fields are sealed with the holder data, never stored plain."""

    name: str
    label_zh: str
    label_en: str
    type: FieldType
    required: bool
    max_length: int = 200
    choices: tuple[str, ...] = ()
    default: FieldValue | None = None
    personal: bool = False
    role: FieldRole | None = None

    def coerce(self, value: object) -> FieldValue:
        """Validate one value against this spec and return its canonical form, or raise naming the field."""
        where = f"fields.{self.name}"
        if self.type is FieldType.INT:
            return _coerce_int(value, where)
        if self.type is FieldType.DATE:
            return _coerce_date(value, where)
        if not isinstance(value, str):
            raise InvalidFieldError(where, "must be a string")
        text = value.strip()
        if not text:
            raise InvalidFieldError(where, "must not be empty")
        if len(text) > self.max_length:
            raise InvalidFieldError(where, f"longer than {self.max_length} characters")
        if self.choices and text not in self.choices:
            raise InvalidFieldError(where, f"must be one of {', '.join(self.choices)}")
        return text


def _coerce_int(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise InvalidFieldError(where, "must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value):
        return int(value)
    raise InvalidFieldError(where, "must be an integer")


def _coerce_date(value: object, where: str) -> str:
    if isinstance(value, datetime):
        raise InvalidFieldError(where, "must be a date, not a date-time")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise InvalidFieldError(where, f"{value} is not a real date") from None
    raise InvalidFieldError(where, "must be a date YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class ValidityRule:
    """How long a licence of a type is valid: a fixed number of years, or without expiry (长期)."""

    kind: Literal["fixed_years", "no_expiry"]
    years: int | None = None

    def valid_until(self, valid_from: datetime) -> datetime | None:
        """The end of validity (exclusive) for a period starting at `valid_from`; None when there is no expiry.

        Years are counted on the China calendar: 01:00 on 29 February in China is still the 28th in UTC, and counting
        there would end the licence on 1 March instead of 28 February.
        """
        if self.years is None:
            return None
        local = valid_from.astimezone(_CHINA)
        try:
            end = local.replace(year=local.year + self.years)
        except ValueError:  # 29 February in a non-leap target year: the month's last day (民法典 第二百零三条)
            end = local.replace(year=local.year + self.years, day=28)
        return end.astimezone(valid_from.tzinfo)


@dataclass(frozen=True, slots=True)
class ReminderPolicy:
    """Proactive expiry reminders (提醒事项): how many days ahead, through which channels."""

    lead_days: tuple[int, ...] = ()
    channels: tuple[Channel, ...] = ()


@dataclass(frozen=True, slots=True)
class Department:
    """An issuing department (发证机关), known by a stable key and its USCC."""

    key: str
    name_zh: str
    name_en: str
    uscc: str
    region_code: str


@dataclass(frozen=True, slots=True)
class LicenceType:
    """A licence type of the catalogue: code, names, who may hold and issue it, validity, reminders, schema."""

    code: str
    key: str
    name_zh: str
    name_en: str
    holder_kind: HolderKind
    issuing_departments: tuple[str, ...]
    validity: ValidityRule
    renewal_window_days: int
    reminders: ReminderPolicy
    fields: tuple[FieldSpec, ...]
    one_per_holder: bool = False
    """A holder may hold only one active licence of this type at a time (a driving licence, a practice registration)."""
    _by_name: dict[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {spec.name: spec for spec in self.fields})

    def fields_with(self, role: FieldRole) -> tuple[FieldSpec, ...]:
        """The fields of this type that have `role`, in schema order."""
        return tuple(spec for spec in self.fields if spec.role is role)

    def field_spec(self, name: str) -> FieldSpec | None:
        """The spec of the named field, or None if the type has no such field."""
        return self._by_name.get(name)

    def allows(self, department: Department) -> bool:
        """Whether `department` is authorised to issue and act on licences of this type."""
        return department.key in self.issuing_departments

    def authorise(self, department: Department) -> None:
        """Raise `UnauthorisedDepartmentError` unless `department` may act on licences of this type."""
        if not self.allows(department):
            msg = f"{department.name_zh} ({department.key}) is not authorised for {self.name_zh} ({self.code})"
            raise UnauthorisedDepartmentError(msg)


def validate_fields(
    licence_type: LicenceType, fields: Mapping[str, object], *, partial: bool = False
) -> dict[str, FieldValue]:
    """Validate `fields` against the type's schema: no unknown field, required present, values canonical.

    Missing optional fields take their default. With `partial=True` (amendments) only the given fields are checked.
    """
    for name in fields:
        if licence_type.field_spec(name) is None:
            raise InvalidFieldError(f"fields.{name}", f"not a field of {licence_type.name_zh}")
    result: dict[str, FieldValue] = {}
    for spec in licence_type.fields:
        if spec.name in fields:
            result[spec.name] = spec.coerce(fields[spec.name])
        elif partial:
            continue
        elif spec.default is not None:
            result[spec.name] = spec.default
        elif spec.required:
            raise InvalidFieldError(f"fields.{spec.name}", "is required")
    return result


def split_personal(
    licence_type: LicenceType, fields: Mapping[str, FieldValue]
) -> tuple[dict[str, FieldValue], dict[str, FieldValue]]:
    """Split validated fields into (public, personal); personal ones must be sealed with the holder data."""
    public: dict[str, FieldValue] = {}
    personal: dict[str, FieldValue] = {}
    for name, value in fields.items():
        spec = licence_type.field_spec(name)
        (personal if spec is not None and spec.personal else public)[name] = value
    return public, personal


@dataclass(frozen=True)
class Region:
    """The region whose catalogue this is (e.g. 河南省, 410000)."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Catalogue:
    """The whole catalogue: the region, its departments and its licence types, with look-ups by code, key, USCC."""

    region: Region
    departments: tuple[Department, ...]
    licence_types: tuple[LicenceType, ...]
    _by_type: dict[str, LicenceType] = field(init=False, repr=False, compare=False)
    _by_department: dict[str, Department] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_type = {t.code: t for t in self.licence_types} | {t.key: t for t in self.licence_types}
        by_department = {d.key: d for d in self.departments} | {d.uscc: d for d in self.departments}
        object.__setattr__(self, "_by_type", by_type)
        object.__setattr__(self, "_by_department", by_department)

    def licence_type(self, code_or_key: str) -> LicenceType:
        """The licence type with this code or catalogue key (`business-licence`); raises `UnknownLicenceTypeError`
        naming close matches.

        The one resolver of a licence type named by a person or a file: the CLI, the API and bulk import all call it.
        """
        try:
            return self._by_type[code_or_key]
        except KeyError:
            hint = _did_you_mean(code_or_key, self._by_type)
            raise UnknownLicenceTypeError(f"no licence type {code_or_key!r} in the catalogue{hint}") from None

    def department(self, key_or_uscc: str) -> Department:
        """The department with this catalogue key (`ha-amr`) or USCC; raises `UnknownDepartmentError` naming close
        matches. The one resolver of a department, like `licence_type` for types."""
        try:
            return self._by_department[key_or_uscc]
        except KeyError:
            hint = _did_you_mean(key_or_uscc, self._by_department)
            raise UnknownDepartmentError(f"no department {key_or_uscc!r} in the catalogue{hint}") from None

    def types_for(self, department: Department) -> tuple[LicenceType, ...]:
        """The licence types `department` is authorised for, in catalogue order."""
        return tuple(t for t in self.licence_types if t.allows(department))


def close_matches(text: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """The candidates most like `text` (a mistyped key or code): same letters ignoring case and `_`/`-` first."""
    names = sorted(set(candidates))
    folded = text.strip().lower().replace("_", "-")
    exact = [name for name in names if name.lower().replace("_", "-") == folded]
    similar = difflib.get_close_matches(text.strip(), names, n=limit, cutoff=0.6)
    near = difflib.get_close_matches(folded, [n.lower() for n in names], n=limit, cutoff=0.6)
    by_lower = {name.lower(): name for name in names}
    return list(dict.fromkeys([*exact, *similar, *(by_lower[n] for n in near)]))[:limit]


def _did_you_mean(text: str, candidates: Iterable[str]) -> str:
    matches = close_matches(text, candidates)
    return f"; close matches: {', '.join(matches)}" if matches else ""
