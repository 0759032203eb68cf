"""Bulk import of existing licences (存量证照) from CSV or JSON lines: streaming, batched, resumable (DESIGN §5).

A source row becomes one `IssueRequest` with its identifier kept as found (a failing check character is imported and
flagged), plus an optional recorded `status` (active, suspended, revoked) whose lifecycle event is saved with it. Rows
are validated first with the domain's own rules (nothing built or saved), so a bad row is rejected with the field;
the good rows of a chunk go to `LicenceService.issue_batch` in one transaction that also writes the file's checkpoint
(`import_progress`, keyed by the file's SHA-256). If a batch still fails, it is halved until the failing row stands
alone and is rejected: a row lands whole or not at all, and good rows still land. After a kill the import resumes after
the last committed line; the rejects file is cut back to that line, so every row ends up landed or rejected once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from clock import CHINA_TIME
from licences.application import IssueRequest, LicenceService
from licences.catalogue import Catalogue, Department, LicenceType, validate_fields
from licences.domain import MAX_REASON_LENGTH, Licence
from licences.errors import (
    ConcurrentUpdateError,
    ImportFileError,
    InvalidFieldError,
    LicenceError,
    LifecycleError,
    RegistryError,
    UnauthorisedDepartmentError,
    UnknownDepartmentError,
    UnknownLicenceTypeError,
)
from licences.identifiers import LicenceIdentifier, parse_holder_id, parse_identifier
from licences.store_imports import ImportProgress, ImportStore
from licences.values import Lifecycle, RevocationKind, licence_id_for

if TYPE_CHECKING:
    from sqlalchemy import Connection

CHINA = CHINA_TIME
FORMATS = ("csv", "jsonl")
COLUMNS = ("identifier", "type", "issuer", "holder_id", "holder_name", "valid_from", "valid_until", "status")
OPTIONAL_COLUMNS = ("status_reason", "revocation_kind")
MAX_LINE_BYTES = 1 << 20
DEFAULT_BATCH = 500
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
            return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), clock_time(0), CHINA)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidFieldError(field_name, f"{value!r} is not a date YYYY-MM-DD or ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise InvalidFieldError(field_name, "a date-time needs its offset, e.g. +08:00")
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


def parse_row(record: SourceRecord, catalogue: Catalogue) -> ImportRow:
    """Parse and validate one row (nothing saved); `InvalidFieldError` names the field that failed."""
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
    row = ImportRow(record.line, request, str(licence_id_for(identifier)), _status(values))
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
    parse_holder_id(request.holder_id, licence_type.holder_kind, "holder_id")
    if len(request.holder_name) > 200:
        raise InvalidFieldError("holder_name", "must be 1-200 characters")
    validate_fields(licence_type, request.fields)
    if request.valid_until is not None:
        if licence_type.validity.years is None:
            raise InvalidFieldError("valid_until", f"{licence_type.name_zh} has no expiry")
        assert request.valid_from is not None
        if request.valid_until <= request.valid_from:
            raise InvalidFieldError("valid_until", "must be later than valid_from")
    if row.status[0] is not Lifecycle.ACTIVE and len(row.status[2]) > MAX_REASON_LENGTH:
        raise InvalidFieldError("status_reason", f"must be 1-{MAX_REASON_LENGTH} characters")


def _valid_until(values: dict[str, Any]) -> datetime | None:
    raw = values.get("valid_until")
    if isinstance(raw, str) and raw.strip().lower() in NO_EXPIRY:
        return None
    return parse_when(raw, "valid_until")


def reject_reason(exc: Exception) -> tuple[str, str]:
    """(field, reason) of a refused row, for the rejects file."""
    if isinstance(exc, InvalidFieldError):
        return exc.field, exc.reason
    if isinstance(exc, UnknownLicenceTypeError):
        return "type", str(exc)
    if isinstance(exc, UnknownDepartmentError | UnauthorisedDepartmentError | RegistryError):
        return "issuer", str(exc)
    if isinstance(exc, ConcurrentUpdateError):
        return "identifier", "a licence with this type, issuer and serial is already in the library"
    if isinstance(exc, LifecycleError):
        return "status", str(exc)
    return "row", str(exc) or type(exc).__name__


# -- rejects ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rejected:
    """A source row that did not land, with the field it failed on and why."""

    line: int
    field: str
    reason: str
    identifier: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON form (one line of a .jsonl rejects file)."""
        return {"line": self.line, "field": self.field, "reason": self.reason, "identifier": self.identifier}


class RejectsFile:
    """The rejects report (CSV, or JSON lines when the name ends in .jsonl), created on the first reject.

    On resume, entries after the checkpoint are dropped: their rows are read again and rejected again.
    """

    HEADER = ("line", "field", "reason", "identifier")

    def __init__(self, path: Path, keep_through: int | None = None) -> None:
        self.path = path
        self.jsonl = path.suffix.lower() in (".jsonl", ".ndjson")
        self._file: IO[str] | None = None
        self.count = 0
        if keep_through is None:
            path.unlink(missing_ok=True)
        elif path.exists():
            self._cut_back(keep_through)

    def _entries(self) -> Iterator[tuple[int, str]]:
        with self.path.open("r", encoding="utf-8", newline="") as f:
            if self.jsonl:
                for text in f:
                    if text.strip():
                        yield int(json.loads(text)["line"]), text
            else:
                reader = csv.reader(f)
                next(reader, None)
                for cells in reader:
                    out = io.StringIO()
                    csv.writer(out).writerow(cells)
                    yield int(cells[0]), out.getvalue()

    def _cut_back(self, keep_through: int) -> None:
        kept = self.path.with_name(self.path.name + ".tmp")
        with kept.open("w", encoding="utf-8", newline="") as out:
            if not self.jsonl:
                csv.writer(out).writerow(self.HEADER)
            for line, text in self._entries():
                if line <= keep_through:
                    out.write(text)
        os.replace(kept, self.path)
        self._file = self.path.open("a", encoding="utf-8", newline="")

    def add(self, rejected: Rejected) -> None:
        """Append one entry."""
        if self._file is None:
            self._file = self.path.open("w", encoding="utf-8", newline="")
            if not self.jsonl:
                csv.writer(self._file).writerow(self.HEADER)
        if self.jsonl:
            self._file.write(json.dumps(rejected.to_json(), ensure_ascii=False) + "\n")
        else:
            csv.writer(self._file).writerow([rejected.line, rejected.field, rejected.reason, rejected.identifier])
        self.count += 1

    def flush(self) -> None:
        """Make the entries so far durable before the batch that follows them commits."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (if any reject was written)."""
        if self._file is not None:
            self._file.close()
            self._file = None


# -- the import -------------------------------------------------------------------------------------------------------


@dataclass
class ImportReport:
    """What one run did: rows landed, rejected, skipped (already landed before a resume), lines read, time taken."""

    file_sha256: str
    lines: int
    imported: int = 0
    rejected: int = 0
    skipped: int = 0
    lines_done: int = 0
    batches: int = 0
    seconds: float = 0.0
    resumed_from: int = 0
    finished: bool = False
    rejects_file: str | None = None
    started: float = field(default=0.0, repr=False)  # the service clock's monotonic seconds at the start

    @property
    def rate(self) -> float:
        """Licences landed per second in this run."""
        return self.imported / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        """The `--json` document of `trustledger import`."""
        return {
            "imported": self.imported,
            "rejected": self.rejected,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 1),
            "lines": self.lines,
            "resumed_from_line": self.resumed_from,
            "batches": self.batches,
            "file_sha256": self.file_sha256,
            "rejects_file": self.rejects_file,
        }


Hook = Callable[[int], None]


class BulkImporter:
    """Imports one source file into the library through `LicenceService.issue_batch`, a checkpoint per batch."""

    def __init__(
        self,
        service: LicenceService,
        store: ImportStore,
        *,
        batch_size: int = DEFAULT_BATCH,
        in_transaction: Hook | None = None,
    ) -> None:
        if not 1 <= batch_size <= 100_000:
            raise InvalidFieldError("batch", "must be 1-100000")
        self.service = service
        self.store = store
        self.batch_size = batch_size
        self.in_transaction = in_transaction  # tests: called inside each batch's transaction with its number

    def run(
        self,
        path: Path,
        fmt: str,
        *,
        rejects_path: Path,
        resume: bool = True,
        on_progress: Callable[[ImportReport], None] | None = None,
    ) -> ImportReport:
        """Import `path`; resume after the file's checkpoint unless `resume` is False (then every row is tried again
        and rows already in the library are rejected as duplicates)."""
        scanned = scan_file(path)
        earlier = self.store.progress(scanned.sha256) if resume else None
        start = 0 if earlier is None else earlier.lines_done
        report = ImportReport(
            scanned.sha256, scanned.lines, resumed_from=start, lines_done=start, started=self.service.clock.monotonic()
        )
        run = _Run(self, report, str(path), RejectsFile(rejects_path, start if earlier is not None else None))
        try:
            if earlier is not None and earlier.finished:
                report.skipped = earlier.imported + earlier.rejected
            else:
                run.carried = (0, 0) if earlier is None else (earlier.imported, earlier.rejected)
                run.all(read_records(path, fmt), start, on_progress)
        finally:
            run.rejects.close()
        report.seconds = self.service.clock.monotonic() - report.started
        report.rejects_file = str(rejects_path) if run.rejects.count or rejects_path.exists() else None
        return report


class _Run:
    """The state of one import run: the report, the rejects file, the checkpoint counts."""

    def __init__(self, importer: BulkImporter, report: ImportReport, source: str, rejects: RejectsFile) -> None:
        self.importer = importer
        self.service = importer.service
        self.report = report
        self.source = source
        self.rejects = rejects
        self.carried = (0, 0)

    def all(
        self, records: Iterator[SourceRecord], start: int, on_progress: Callable[[ImportReport], None] | None
    ) -> None:
        chunk: list[SourceRecord] = []
        for record in records:
            if record.line <= start:
                self.report.skipped += 1
                continue
            chunk.append(record)
            if len(chunk) >= self.importer.batch_size:
                self.chunk(chunk)
                chunk = []
                if on_progress is not None:
                    on_progress(self.report)
        if chunk:
            self.chunk(chunk)
        self.report.finished = True
        self.report.lines_done = max(self.report.lines_done, self.report.lines)
        self.importer.store.save_progress(self.progress(self.report.lines_done))
        if on_progress is not None:
            on_progress(self.report)

    def chunk(self, chunk: list[SourceRecord]) -> None:
        """Validate a chunk, write its rejects, land its good rows; the checkpoint moves to its last line."""
        through = chunk[-1].line
        good = self.validate(chunk)
        self.rejects.flush()
        self.land(good, through)
        if self.report.lines_done < through:
            self.importer.store.save_progress(self.progress(through))
            self.report.lines_done = through

    def validate(self, chunk: list[SourceRecord]) -> list[ImportRow]:
        catalogue = self.service.catalogue
        parsed: list[ImportRow] = []
        for record in chunk:
            try:
                parsed.append(parse_row(record, catalogue))
            except (LicenceError, ValueError) as exc:
                self.reject(record.line, exc, _identifier_of(record))
        known = self.importer.store.existing_licences(r.licence_id for r in parsed)
        first_line: dict[str, int] = {}
        good: list[ImportRow] = []
        for row in parsed:
            identifier = row.request.identifier or ""
            if row.licence_id in known:
                self.reject_with(row.line, "identifier", "already in the library (imported before?)", identifier)
            elif row.licence_id in first_line:
                reason = f"the same licence as line {first_line[row.licence_id]} of this file"
                self.reject_with(row.line, "identifier", reason, identifier)
            else:
                first_line[row.licence_id] = row.line
                good.append(row)
        return good

    def land(self, rows: list[ImportRow], through: int) -> None:
        """Commit `rows` with the checkpoint at `through`; on failure halve until the bad row stands alone."""
        if not rows:
            return
        try:
            self.commit(rows, through)
        except (LicenceError, ValueError) as exc:
            if len(rows) == 1:
                self.reject(rows[0].line, exc, rows[0].request.identifier or "")
                self.rejects.flush()
                return
            middle = len(rows) // 2
            self.land(rows[:middle], rows[middle - 1].line)
            self.land(rows[middle:], through)

    def commit(self, rows: Sequence[ImportRow], through: int) -> None:
        catalogue = self.service.catalogue
        number = self.report.batches + 1
        progress = self.progress(through, landed=len(rows))

        def then(i: int, licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            record_status(licence, licence_type, catalogue.department(licence.issuer), now, rows[i].status)

        def same_transaction(conn: Connection) -> None:
            ImportStore.put_progress(conn, progress)
            if self.importer.in_transaction is not None:
                self.importer.in_transaction(number)

        self.service.issue_batch([r.request for r in rows], then=then, same_transaction=same_transaction)
        self.report.imported += len(rows)
        self.report.batches = number
        self.report.lines_done = through

    def progress(self, through: int, landed: int = 0) -> ImportProgress:
        imported = self.carried[0] + self.report.imported + landed
        rejected = self.carried[1] + self.report.rejected
        now = self.service.clock()
        return ImportProgress(
            self.report.file_sha256, self.source, through, imported, rejected, self.report.finished, now
        )

    def reject(self, line: int, exc: Exception, identifier: str) -> None:
        name, reason = reject_reason(exc)
        self.reject_with(line, name, reason, identifier)

    def reject_with(self, line: int, name: str, reason: str, identifier: str) -> None:
        self.rejects.add(Rejected(line, name, reason, identifier))
        self.report.rejected += 1


def _identifier_of(record: SourceRecord) -> str:
    value = (record.values or {}).get("identifier")
    return value.strip()[:120] if isinstance(value, str) else ""
