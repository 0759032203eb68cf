"""Checks of a licence's fields against its holder and against each other. Pure: no I/O, no clock.

A field may restate what the holder's number already encodes, or be a date that has to fit the holder's life and the
licence's own validity. The catalogue says which (`FieldSpec.role`, see `licences.catalogue.model.FieldRole`); the
rules, each with its basis:

1. `birth_date` equals the birth date in positions 7–14 of the holder's resident ID number (GB 11643-1999 §5.3);
2. `sex` is 男 when the 17th digit is odd, 女 when it is even (GB 11643-1999 §5.4);
3. `past_date` fields (初次领证日期, 登记日期, 成立日期) are not before the holder's birth: nothing happens to a person
   before they are born;
4. `period_end` is not before `period_start` (合同竣工日期 after 合同开工日期);
5. at issue or import, with the licence's start and the issuing clock (`check_timeline`): a `past_date` or `birth_date`
   is not after `valid_from` (the licence records it as having happened) and not in the future; and `valid_from`
   itself is not before the holder's birth. Dates are compared on the China calendar, where they are written.

A USCC (GB 32100) encodes the registration authority, the organisation category and the area code: no catalogue field
restates them today, so an organisation has nothing to check under (1)–(2); (3)–(5) apply to it as to anybody else,
without a birth date. The one-active-licence rule (`LicenceType.one_per_holder`) needs the register and lives in
`licences.holdings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from clock import CHINA_TIME
from licences.catalogue.model import FieldRole, FieldValue, LicenceType
from licences.errors import InvalidFieldError
from licences.identifiers import HolderId, ResidentId
from licences.values import FieldErrors

MALE, FEMALE = "男", "女"


def check_holder_fields(licence_type: LicenceType, holder_id: HolderId, fields: Mapping[str, FieldValue]) -> None:
    """Rules (1)–(4) on validated `fields`: one `InvalidFieldError` (or `InvalidFieldsError`) naming every bad field."""
    errors = FieldErrors()
    born = holder_id.birth_date if isinstance(holder_id, ResidentId) else None
    for name, value in _dates(licence_type, fields, FieldRole.BIRTH_DATE):
        if born is not None and value != born:
            errors.check(_refuse, name, f"{value} is not the birth date {born} in the holder's ID number")
    for spec in licence_type.fields_with(FieldRole.SEX):
        given = fields.get(spec.name)
        if isinstance(holder_id, ResidentId) and given is not None:
            encoded = MALE if holder_id.is_male else FEMALE
            if given != encoded:
                errors.check(_refuse, spec.name, f"{given} contradicts the holder's ID number, which encodes {encoded}")
    if born is not None:
        for name, value in _dates(licence_type, fields, FieldRole.PAST_DATE):
            if value < born:
                errors.check(_refuse, name, f"{value} is before the holder's birth ({born})")
    starts = _dates(licence_type, fields, FieldRole.PERIOD_START)
    ends = _dates(licence_type, fields, FieldRole.PERIOD_END)
    for (start_name, start), (end_name, end) in zip(starts, ends, strict=False):
        if end < start:
            errors.check(_refuse, end_name, f"{end} is before {start_name} ({start})")
    errors.raise_any()


def check_timeline(
    licence_type: LicenceType,
    holder_id: HolderId,
    fields: Mapping[str, FieldValue],
    valid_from: datetime,
    now: datetime,
) -> None:
    """Rule (5): facts not after the licence's start nor after today, and the licence not starting before birth."""
    errors = FieldErrors()
    start = valid_from.astimezone(CHINA_TIME).date()
    today = now.astimezone(CHINA_TIME).date()
    for role in (FieldRole.BIRTH_DATE, FieldRole.PAST_DATE):
        for name, value in _dates(licence_type, fields, role):
            if value > today:
                errors.check(_refuse, name, f"{value} is in the future")
            elif value > start:
                errors.check(_refuse, name, f"{value} is after the licence's valid_from ({start})")
    if isinstance(holder_id, ResidentId) and start < holder_id.birth_date:
        errors.check(_refuse_field, "valid_from", f"{start} is before the holder's birth ({holder_id.birth_date})")
    errors.raise_any()


def _dates(licence_type: LicenceType, fields: Mapping[str, FieldValue], role: FieldRole) -> list[tuple[str, date]]:
    """(field name, date) of the given fields with `role`; values are canonical ISO dates after `validate_fields`."""
    found = []
    for spec in licence_type.fields_with(role):
        value = fields.get(spec.name)
        if isinstance(value, str):
            found.append((spec.name, date.fromisoformat(value)))
    return found


def _refuse(name: str, reason: str) -> None:
    raise InvalidFieldError(f"fields.{name}", reason)


def _refuse_field(name: str, reason: str) -> None:
    raise InvalidFieldError(name, reason)
