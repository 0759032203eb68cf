"""Bulk import's source rows (DESIGN §5): reading CSV or JSON lines, and parsing and validating one row.

Reading streams `SourceRecord`s (line number and values, or why the line could not be read); `parse_row` turns one
into an `ImportRow` with the domain's own rules, nothing built or saved, so a bad row is refused with the field it
failed on (`reject_reason`). The batch runner, the rejects file and the checkpoints are in `licences.bulk`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO, Any

from clock import CHINA_TIME
from licences.application import IssueRequest
from licences.catalogue import Catalogue, Department, LicenceType
from licences.domain import MAX_REASON_LENGTH, Licence, check_issue
from licences.errors import (
    ConcurrentUpdateError,
    HolderAlreadyHoldsError,
    ImportFileError,
    InvalidFieldError,
    LifecycleError,
    RegistryError,
    UnauthorisedDepartmentError,
    UnknownDepartmentError,
    UnknownLicenceTypeError,
)
from licences.identifiers import LicenceIdentifier, parse_identifier
from licences.privacy import HolderData
from licences.values import (
    EARLIEST,
    FieldErrors,
    InvalidFieldsError,
    Lifecycle,
    RevocationKind,
    bounded,
    licence_id_for,
    plain_text,
)

CHINA = CHINA_TIME
FORMATS = ("csv", "jsonl")
COLUMNS = ("identifier", "type", "issuer", "holder_id", "holder_name", "valid_from", "valid_until", "status")
OPTIONAL_COLUMNS = ("status_reason", "revocation_kind")
MAX_LINE_BYTES = 1 << 20
# Recorded statuses as departments export them; 注销 is a voluntary revocation, 吊销 a penalty.
STATUSES: dict[str, tuple[Lifecycle, RevocationKind | None]] = {
    "": (Lifecycle.ACTIVE, None),
    "active": (Lifecycle.ACTIVE, None),
    "有效": (Lifecycle.ACTIVE, None),
    "suspended": (Lifecycle.SUSPENDED, None),
    "暂扣": (Lifecycle.SUSPENDED, None),
    "revoked": (Lifecycle.REVOKED, None),
    "注销": (Lifecycle.REVOKED, RevocationKind.VOLUNTARY),
    "吊销": (Lifecycle.REVOKED, RevocationKind.PENALTY),
}
NO_EXPIRY = ("", "长期", "none")
DEFAULT_STATUS_REASON = "存量证照导入：原证照库记录的状态"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


# -- reading ----------------------------------------------------------------------------------------------------------


def detect_format(path: Path, given: str | None = None) -> str:
    """The source format: `given`, else from the file name (.csv; .jsonl/.ndjson)."""
    if given is not None:
        if given not in FORMATS:
            raise ImportFileError(f"format {given!r} is not one of {', '.join(FORMATS)}")
        return given
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ImportFileError(f"cannot tell the format of {path.name}: name it .csv or .jsonl, or pass --format")


@dataclass(frozen=True, slots=True)
class FileDigest:
    """The SHA-256 of a source file (its resume key) and how many lines it has (the progress bar's total)."""

    sha256: str
    lines: int
    size: int


def scan_file(path: Path) -> FileDigest:
    """Hash the file and count its lines in one streaming pass."""
    digest = hashlib.sha256()
    lines = size = 0
    last = b"\n"
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            size += len(chunk)
            last = chunk[-1:]
    return FileDigest(digest.hexdigest(), lines + (last != b"\n"), size)


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One data row of the source: its line number and values, or the reason it could not be read at all."""

    line: int
    values: dict[str, Any] | None
    error: InvalidFieldError | None = None


def _open_text(path: Path) -> IO[str]:
    return path.open("r", encoding="utf-8-sig", newline="")  # -sig: spreadsheets write a BOM


def read_records(path: Path, fmt: str) -> Iterator[SourceRecord]:
    """Stream the data rows of a source file (constant memory)."""
    return _read_csv(path) if fmt == "csv" else _read_jsonl(path)


def _check_columns(header: Sequence[str]) -> None:
    known = set(COLUMNS) | set(OPTIONAL_COLUMNS)
    for name in header:
        if name not in known and not (name.startswith("fields.") and len(name) > 7):
            raise ImportFileError(f"column {name!r} is not known: use {', '.join(COLUMNS)} and fields.<name>")
    missing = [c for c in COLUMNS[:6] if c not in header]
    if missing:
        raise ImportFileError(f"missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise ImportFileError("a column appears twice in the header")


def _read_csv(path: Path) -> Iterator[SourceRecord]:
    with _open_text(path) as f:
        reader = csv.reader(f, strict=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ImportFileError("the CSV file is empty: it needs a header row") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ImportFileError(f"line 1: unreadable header ({exc})") from None
        _check_columns(header)
        previous = reader.line_num
        while True:
            start = previous + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise ImportFileError(f"line {start}: not UTF-8 ({exc.reason})") from None
            except csv.Error as exc:
                previous = reader.line_num
                yield SourceRecord(start, None, InvalidFieldError("line", f"malformed CSV: {exc}"))
                continue
            previous = reader.line_num
            if not cells or cells == [""]:
                continue
            if len(cells) != len(header):
                error = InvalidFieldError("line", f"has {len(cells)} cells, the header has {len(header)}")
                yield SourceRecord(start, None, error)
                continue
            yield SourceRecord(start, dict(zip(header, cells, strict=True)))


def _read_jsonl(path: Path) -> Iterator[SourceRecord]:
    with _open_text(path) as f:
        number = 0
        while True:
            try:
                text = f.readline(MAX_LINE_BYTES + 1)
            except UnicodeDecodeError as exc:
                raise ImportFileError(f"line {number + 1}: not UTF-8 ({exc.reason})") from None
            if not text:
                return
            number += 1
            if len(text) > MAX_LINE_BYTES:
                raise ImportFileError(f"line {number}: longer than {MAX_LINE_BYTES} characters")
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except ValueError as exc:
                yield SourceRecord(number, None, InvalidFieldError("line", f"not JSON: {exc}"))
                continue
            if not isinstance(value, dict):
                yield SourceRecord(number, None, InvalidFieldError("line", "must be a JSON object"))
                continue
            yield SourceRecord(number, value)


# -- parsing and validating one row ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportRow:
    """A validated source row: the request, its licence id, and the recorded status to apply after the mint."""

    line: int
    request: IssueRequest
    licence_id: str
    status: tuple[Lifecycle, RevocationKind, str]


def parse_when(text: object, field_name: str) -> datetime | None:
    """A calendar date (midnight China time) or an ISO 8601 date-time with offset; None for an empty cell."""
    if text is None:
        return None
    if not isinstance(text, str):
        raise InvalidFieldError(field_name, "must be a date YYYY-MM-DD or an ISO 8601 date-time")
    value = text.strip()
    if not value:
        return None
    try:
        if _DATE.fullmatch(value):
            moment = datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), clock_time(0), CHINA)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFieldError(field_name, f"{value!r} is not a date YYYY-MM-DD or ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise InvalidFieldError(field_name, "a date-time needs its offset, e.g. +08:00")
    bounded(moment, field_name)  # refuses what is out of range; the offset as given is kept
    return moment


def _text(values: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = values.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidFieldError(name, "is required")
        return ""
    if not isinstance(value, str):
        raise InvalidFieldError(name, "must be text")
    return value.strip()


def _fields(values: dict[str, Any]) -> dict[str, object]:
    nested = values.get("fields", {})
    if not isinstance(nested, dict):
        raise InvalidFieldError("fields", "must be an object of field name → value")
    result: dict[str, object] = {k: v for k, v in nested.items() if v not in (None, "")}
    for key, value in values.items():
        if key.startswith("fields.") and value not in (None, ""):
            result[key[7:]] = value.strip() if isinstance(value, str) else value
    return result


def _status(values: dict[str, Any]) -> tuple[Lifecycle, RevocationKind, str]:
    text = _text(values, "status", required=False).lower()
    if text not in STATUSES:
        raise InvalidFieldError("status", "must be active, suspended or revoked (or 有效, 暂扣, 注销, 吊销)")
    lifecycle, implied = STATUSES[text]
    kind_text = _text(values, "revocation_kind", required=False)
    try:
        kind = RevocationKind(kind_text) if kind_text else implied or RevocationKind.VOLUNTARY
    except ValueError:
        raise InvalidFieldError("revocation_kind", "must be voluntary (注销) or penalty (吊销)") from None
    reason = _text(values, "status_reason", required=False) or DEFAULT_STATUS_REASON
    return lifecycle, kind, reason


def _check_keys(values: dict[str, Any]) -> None:
    known = {*COLUMNS, *OPTIONAL_COLUMNS, "fields"}
    for key in values:
        if key not in known and not key.startswith("fields."):
            raise InvalidFieldError(str(key)[:60], "is not a known column")


def _lookup(catalogue: Catalogue, values: dict[str, Any]) -> tuple[LicenceType, Department]:
    try:
        licence_type = catalogue.licence_type(_text(values, "type"))
    except UnknownLicenceTypeError as exc:
        raise InvalidFieldError("type", str(exc)) from None
    try:
        department = catalogue.department(_text(values, "issuer"))
    except UnknownDepartmentError as exc:
        raise InvalidFieldError("issuer", str(exc)) from None
    try:
        licence_type.authorise(department)
    except UnauthorisedDepartmentError as exc:
        raise InvalidFieldError("issuer", str(exc)) from None
    return licence_type, department


def record_status(
    licence: Licence,
    licence_type: LicenceType,
    actor: Department,
    now: datetime,
    status: tuple[Lifecycle, RevocationKind, str],
) -> None:
    """Record a recorded status (lifecycle, revocation kind, reason) on a freshly minted licence, at `now`."""
    lifecycle, kind, reason = status
    try:
        if lifecycle is Lifecycle.SUSPENDED:
            licence.suspend(licence_type=licence_type, actor=actor, now=now, reason=reason)
        elif lifecycle is Lifecycle.REVOKED:
            licence.revoke(licence_type=licence_type, actor=actor, now=now, reason=reason, kind=kind)
    except InvalidFieldError as exc:
        raise InvalidFieldError("status_reason" if exc.field == "reason" else exc.field, exc.reason) from None
    except LifecycleError as exc:
        raise InvalidFieldError("status", str(exc)) from None


def parse_row(record: SourceRecord, catalogue: Catalogue, key: bytes) -> ImportRow:
    """Parse and validate one row (nothing saved); `InvalidFieldError` names the field that failed. `key` is the
    region's stream key (`licences.values.stream_key`), which names the licence's stream."""
    if record.values is None:
        assert record.error is not None
        raise record.error
    values = record.values
    _check_keys(values)
    identifier = parse_identifier(_text(values, "identifier"), strict=False)
    licence_type, department = _lookup(catalogue, values)
    request = IssueRequest(
        type_code=licence_type.code,
        issuer=department.uscc,
        holder_id=_text(values, "holder_id"),
        holder_name=_text(values, "holder_name"),
        fields=_fields(values),
        valid_from=parse_when(_text(values, "valid_from"), "valid_from"),
        valid_until=_valid_until(values),
        identifier=str(identifier),
    )
    row = ImportRow(record.line, request, str(licence_id_for(identifier, key)), _status(values))
    _check(row, identifier, licence_type, department)
    return row


def _check(row: ImportRow, identifier: LicenceIdentifier, licence_type: LicenceType, department: Department) -> None:
    """The rules `Licence.import_existing` and `suspend`/`revoke` apply, checked without building the events.

    Building them in a dry run cost as much as the batch's own mint; the mint re-checks everything, and a row that
    slips past this check still fails alone when its batch is halved.
    """
    request = row.request
    if identifier.type_code != licence_type.code:
        raise InvalidFieldError("identifier", f"type code {identifier.type_code} is not {licence_type.code}")
    if identifier.issuer != department.uscc:
        raise InvalidFieldError("identifier", f"issuer {identifier.issuer} is not {department.uscc}")
    errors = FieldErrors()
    holder = HolderData(request.holder_name, request.holder_id)
    # An empty valid_from means "now" at the mint; any instant in range stands in for it here.
    start = request.valid_from or EARLIEST
    errors.check(check_issue, licence_type, holder, request.fields, start, request.valid_until)
    if row.status[0] is not Lifecycle.ACTIVE:
        errors.check(_status_reason, row.status[2])
    errors.raise_any()


def _status_reason(reason: str) -> None:
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidFieldError("status_reason", f"must be 1-{MAX_REASON_LENGTH} characters")
    plain_text(reason, "status_reason")


def _valid_until(values: dict[str, Any]) -> datetime | None:
    raw = values.get("valid_until")
    if isinstance(raw, str) and raw.strip().lower() in NO_EXPIRY:
        return None
    return parse_when(raw, "valid_until")


def reject_reason(exc: Exception) -> tuple[str, str]:
    """(field, reason) of a refused row, for the rejects file."""
    if isinstance(exc, InvalidFieldsError):
        return ",".join(e.field for e in exc.errors), "; ".join(f"{e.field}: {e.reason}" for e in exc.errors)
    if isinstance(exc, InvalidFieldError):
        return exc.field, exc.reason
    if isinstance(exc, UnknownLicenceTypeError):
        return "type", str(exc)
    if isinstance(exc, UnknownDepartmentError | UnauthorisedDepartmentError | RegistryError):
        return "issuer", str(exc)
    if isinstance(exc, HolderAlreadyHoldsError):
        return "holder_id", str(exc)
    if isinstance(exc, ConcurrentUpdateError):
        return "identifier", "a licence with this type, issuer and serial is already in the library"
    if isinstance(exc, LifecycleError):
        return "status", str(exc)
    return "row", str(exc) or type(exc).__name__


def record_identifier(record: SourceRecord) -> str:
    """The identifier cell of a row as found (trimmed, at most 120 characters), for its rejects entry; "" if none."""
    value = (record.values or {}).get("identifier")
    return value.strip()[:120] if isinstance(value, str) else ""
