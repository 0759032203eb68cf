"""Bulk import of existing licences (存量证照) from CSV or JSON lines: streaming, batched, resumable (DESIGN §5).

A source row becomes one `IssueRequest` with its identifier kept as found (a failing check character is imported and
flagged), plus an optional recorded `status` (active, suspended, revoked) whose lifecycle event is saved with it. Rows
are validated first with the domain's own rules (nothing built or saved), so a bad row is rejected with the field;
the good rows of a chunk go to `LicenceService.issue_batch` in one transaction that also writes the file's checkpoint
(`import_progress`, keyed by an HMAC of the file, `import_file_key`). If a batch still fails, it is halved until the
failing row stands alone and is rejected: a row lands whole or not at all, and good rows still land. After a kill the
import resumes after the last committed line; the rejects file is cut back to that line, so every row ends up landed
or rejected once. Reading the source and parsing/validating one row are in `licences.import_rows`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from licences.application import LicenceService
from licences.catalogue import LicenceType
from licences.domain import Licence
from licences.errors import InvalidFieldError, LicenceError
from licences.import_rows import (
    ImportRow,
    SourceRecord,
    parse_row,
    read_records,
    record_identifier,
    record_status,
    reject_reason,
    scan_file,
)
from licences.store_imports import ImportProgress, ImportStore, import_file_key
from licences.values import stream_key

if TYPE_CHECKING:
    from sqlalchemy import Connection

DEFAULT_BATCH = 500


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

    file_sha256: str  # the file's checkpoint key: its keyed digest (`import_file_key`), not its bare SHA-256
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
        file_key = import_file_key(self.service.salt, scanned.sha256)  # never the bare SHA-256 (store_imports)
        earlier = self.store.progress(file_key) if resume else None
        start = 0 if earlier is None else earlier.lines_done
        report = ImportReport(
            file_key, scanned.lines, resumed_from=start, lines_done=start, started=self.service.clock.monotonic()
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
        key = stream_key(self.service.salt)
        parsed: list[ImportRow] = []
        for record in chunk:
            try:
                parsed.append(parse_row(record, catalogue, key))
            except (LicenceError, ValueError) as exc:
                self.reject(record.line, exc, record_identifier(record))
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
