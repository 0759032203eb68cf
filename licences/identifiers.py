"""Identifiers of holders and licences, each parsed strictly once at the edge.

- Resident ID number (公民身份号码), GB 11643-1999 with the ISO 7064 MOD 11-2 check character.
- Unified Social Credit Code (统一社会信用代码, USCC), GB 32100-2015 with its MOD 31 check character.
- Licence identifier (证照标识) `1.2.156.3005.2.<type>.<issuer>.<serial>.<version>.<check>`, ISO 7064 MOD 37,36.
Masking helpers for public pages live here too: they must never reveal an ID number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from functools import lru_cache

from licences.errors import InvalidFieldError

MAX_INPUT_LENGTH = 200
"""Size cap on any identifier string crossing a boundary, checked before any pattern."""

# -- GB 11643-1999 resident ID number ---------------------------------------------------------------------------------

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"
_RESIDENT_ID = re.compile(r"[1-9][0-9]{5}([0-9]{4})([0-9]{2})([0-9]{2})[0-9]{3}[0-9X]")
# GB/T 2260 province-level codes: the first two digits of every real area code.
_PROVINCE = re.compile(r"1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[12]")


class HolderKind(StrEnum):
    """Who may hold a licence of a type: a citizen, an organisation, or either."""

    CITIZEN = "citizen"
    ORGANISATION = "organisation"
    EITHER = "either"


def resident_id_check_char(body: str) -> str:
    """The GB 11643-1999 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    total = sum(int(c) * w for c, w in zip(body, RESIDENT_ID_WEIGHTS, strict=True))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A validated 18-character resident ID number; build it with `parse_resident_id`."""

    value: str

    @property
    def area_code(self) -> str:
        """The 6-digit GB/T 2260 area code of the place of first registration."""
        return self.value[:6]

    @property
    def birth_date(self) -> date:
        """The date of birth encoded in positions 7–14."""
        return date(int(self.value[6:10]), int(self.value[10:12]), int(self.value[12:14]))

    @property
    def is_male(self) -> bool:
        """GB 11643 encodes the sex in the parity of the 17th digit (odd = male)."""
        return int(self.value[16]) % 2 == 1

    def __str__(self) -> str:
        return self.value


def parse_resident_id(text: str, field: str = "holder_id") -> ResidentId:
    """Parse a resident ID number strictly: format, province, real birth date, check character."""
    _check_length(text, field, exact=18)
    match = _RESIDENT_ID.fullmatch(text)
    if match is None:
        raise InvalidFieldError(field, "resident ID number must be 17 digits then a digit or upper-case X")
    if _PROVINCE.fullmatch(text[:2]) is None:
        raise InvalidFieldError(field, f"unknown province code {text[:2]}")
    year, month, day = (int(g) for g in match.groups())
    try:
        born = date(year, month, day)
    except ValueError:
        raise InvalidFieldError(field, f"birth date {text[6:14]} is not a real date") from None
    if born.year < 1850:
        raise InvalidFieldError(field, f"birth year {born.year} is not plausible")
    expected = resident_id_check_char(text[:17])
    if text[17] != expected:
        raise InvalidFieldError(field, f"bad check character {text[17]!r} (GB 11643-1999 MOD 11-2)")
    return ResidentId(text)


# -- GB 32100-2015 Unified Social Credit Code -------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# Positions 3–8 are the registering authority's GB/T 2260 area code: digits only.
_USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}")


@lru_cache(maxsize=4096)  # a region has a few hundred departments, each checked for every licence it issues
def uscc_check_char(body: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


@dataclass(frozen=True, slots=True)
class USCC:
    """A validated Unified Social Credit Code; build it with `parse_uscc`."""

    value: str

    @property
    def area_code(self) -> str:
        """The 6-digit area code of the registering authority."""
        return self.value[2:8]

    def __str__(self) -> str:
        return self.value


def parse_uscc(text: str, field: str = "uscc") -> USCC:
    """Parse a USCC strictly: 18 characters of the GB 32100 alphabet and a correct check character."""
    _check_length(text, field, exact=18)
    if _USCC.fullmatch(text) is None:
        raise InvalidFieldError(field, "USCC must be 18 characters of 0-9A-HJ-NPQRTUWXY with digits in positions 3-8")
    if text[17] != uscc_check_char(text[:17]):
        raise InvalidFieldError(field, f"bad check character {text[17]!r} (GB 32100-2015)")
    return USCC(text)


HolderId = ResidentId | USCC


def parse_holder_id(text: str, kind: HolderKind, field: str = "holder_id") -> HolderId:
    """Parse a holder's number as the licence type's holder kind demands.

    For `EITHER`, a valid resident ID number wins: an 18-digit string can pass both checks, and citizens are the
    common case; a string with letters before its last character can only be a USCC.
    """
    if kind is HolderKind.CITIZEN:
        return parse_resident_id(text, field)
    if kind is HolderKind.ORGANISATION:
        return parse_uscc(text, field)
    try:
        return parse_resident_id(text, field)
    except InvalidFieldError as as_citizen:
        try:
            return parse_uscc(text, field)
        except InvalidFieldError:
            raise as_citizen from None


def holder_kind_of(holder: HolderId) -> HolderKind:
    """The concrete kind (citizen or organisation) of a parsed holder number."""
    return HolderKind.CITIZEN if isinstance(holder, ResidentId) else HolderKind.ORGANISATION


# -- Licence identifier (证照标识) ------------------------------------------------------------------------------------

IDENTIFIER_PREFIX = "1.2.156.3005.2."
MOD37_36_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_TYPE_CODE = re.compile(r"[0-9A-Z]{1,64}")
_SERIAL = re.compile(r"[0-9A-Z]{1,64}")
_VERSION = re.compile(r"[0-9]{3}")
_CHECK = re.compile(r"[0-9A-Z]")


def iso7064_mod37_36(text: str) -> str:
    """The ISO 7064 MOD 37,36 (hybrid system, M = 36) check character of `text` over `0-9A-Z`."""
    product = 36
    for char in text:
        total = (product + MOD37_36_ALPHABET.index(char)) % 36 or 36
        product = (total * 2) % 37
    return MOD37_36_ALPHABET[(37 - product) % 36]


@dataclass(frozen=True, slots=True)
class LicenceIdentifier:
    """A licence identifier (证照标识). `check_ok` is False only for imported identifiers kept despite a bad check."""

    type_code: str
    issuer: str
    serial: str
    version: int
    check: str
    check_ok: bool = True

    @property
    def check_input(self) -> str:
        """The fields after the prefix, joined without dots: what the check character covers."""
        return f"{self.type_code}{self.issuer}{self.serial}{self.version:03d}"

    def with_version(self, version: int) -> LicenceIdentifier:
        """The identifier of another version of the same licence, with a freshly computed check character."""
        return make_identifier(self.type_code, self.issuer, self.serial, version)

    def __str__(self) -> str:
        return f"{IDENTIFIER_PREFIX}{self.type_code}.{self.issuer}.{self.serial}.{self.version:03d}.{self.check}"


def make_identifier(type_code: str, issuer: str, serial: str, version: int = 1) -> LicenceIdentifier:
    """Build a licence identifier from its parts, validating each and computing the check character."""
    _fullmatch(_TYPE_CODE, type_code, "type_code", "1-64 characters of 0-9A-Z")
    parse_uscc(issuer, "issuer")
    _fullmatch(_SERIAL, serial, "serial", "1-64 characters of 0-9A-Z")
    if not 1 <= version <= 999:
        raise InvalidFieldError("version", "licence version must be between 1 and 999")
    check = iso7064_mod37_36(f"{type_code}{issuer}{serial}{version:03d}")
    return LicenceIdentifier(type_code, issuer, serial, version, check)


def parse_identifier(text: str, strict: bool = True, field: str = "identifier") -> LicenceIdentifier:
    """Parse a licence identifier; with `strict=False` a bad check character is kept and flagged, not raised.

    Every other defect (prefix, field shapes, issuer USCC) raises `InvalidFieldError` naming `field`.
    """
    _check_length(text, field)
    if not text.startswith(IDENTIFIER_PREFIX):
        raise InvalidFieldError(field, f"must start with {IDENTIFIER_PREFIX}")
    parts = text[len(IDENTIFIER_PREFIX) :].split(".")
    if len(parts) != 5:
        raise InvalidFieldError(field, "must have 5 dot-separated fields after the prefix")
    type_code, issuer, serial, version, check = parts
    for pattern, value, what in (
        (_TYPE_CODE, type_code, "type code"),
        (_SERIAL, serial, "serial"),
        (_VERSION, version, "version"),
        (_CHECK, check, "check character"),
    ):
        if pattern.fullmatch(value) is None:
            raise InvalidFieldError(field, f"malformed {what} {value!r}")
    try:
        parse_uscc(issuer, field)
    except InvalidFieldError as exc:
        raise InvalidFieldError(field, f"issuer: {exc.reason}") from None
    if version == "000":
        raise InvalidFieldError(field, "version 000 does not exist; versions start at 001")
    computed = make_identifier(type_code, issuer, serial, int(version))
    if check == computed.check:
        return computed
    if strict:
        raise InvalidFieldError(field, f"bad check character {check!r} (ISO 7064 MOD 37,36)")
    return replace(computed, check=check, check_ok=False)


# -- Masking for public pages -----------------------------------------------------------------------------------------

_ORGANISATION_SUFFIXES = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "分公司",
    "合伙企业",
    "专业合作社",
    "个体工商户",
    "大药房",
    "委员会",
    "研究院",
    "公司",
    "医院",
    "诊所",
    "药店",
    "中心",
    "集团",
    "厂",
    "店",
    "局",
    "所",
)
_ORGANISATION_MIN_LENGTH = 5


def mask_name(name: str) -> str:
    """Mask a holder name for public display: 张三丰 → 张*丰, 张三 → 张*, 郑州鼎盛商贸有限公司 → 郑州**有限公司."""
    if not name:
        return ""
    suffix = next((s for s in _ORGANISATION_SUFFIXES if name.endswith(s)), None)
    if suffix is not None and len(name) >= _ORGANISATION_MIN_LENGTH:
        # Keep the region-like head and the legal form; hide the trade name behind a fixed-width mask.
        core = name[: -len(suffix)]
        return f"{core[:2] if len(core) > 3 else core[:1]}**{suffix}"
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return f"{name[0]}*"
    return f"{name[0]}{'*' * (len(name) - 2)}{name[-1]}"


def mask_id(number: str) -> str:
    """Mask a resident ID number or USCC so that it cannot be recovered: only its first and last characters show."""
    if len(number) <= 2:
        return "*" * len(number)
    return f"{number[0]}{'*' * (len(number) - 2)}{number[-1]}"


# -- Helpers ----------------------------------------------------------------------------------------------------------


def _check_length(text: str, field: str, exact: int | None = None) -> None:
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidFieldError(field, f"longer than {MAX_INPUT_LENGTH} characters")
    if exact is not None and len(text) != exact:
        raise InvalidFieldError(field, f"must be exactly {exact} characters, got {len(text)}")


def _fullmatch(pattern: re.Pattern[str], text: str, field: str, expected: str) -> None:
    _check_length(text, field)
    if pattern.fullmatch(text) is None:
        raise InvalidFieldError(field, f"must be {expected}")
