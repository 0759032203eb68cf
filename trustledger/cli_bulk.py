"""Commands: `import FILE` (existing licences, CSV or JSON lines) and `demo seed --licences N` (DESIGN §13).

Progress bars go to stderr and never appear under --json. `import` exits 0 when every row landed (or had landed
before a resume), 1 when rows were rejected (the rejects file says which and why) or the import failed, 2 on usage.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from demo.seed import seed_licences
from licences.bulk import DEFAULT_BATCH, BulkImporter, Hook, ImportReport
from licences.errors import ImportFileError, LicenceError
from licences.import_rows import COLUMNS, NO_EXPIRY, OPTIONAL_COLUMNS, STATUSES, detect_format
from licences.store_imports import ImportStore
from trustledger.cli_common import CTX, emit, fail, region

IMPORT_HELP = f"""Import existing licences (存量证照): streaming, batched, resumable; rejected rows go to the rejects
file.

Columns (a CSV header row, or the keys of each JSON line): {", ".join(COLUMNS)}, optionally
{", ".join(OPTIONAL_COLUMNS)}, and one fields.NAME per licence field (`trustledger catalogue show TYPE` lists them;
JSON lines may give a "fields" object instead). The first six are required; unknown columns refuse the file.

type: the type code (11100000000013338W001) or its catalogue key (business-licence). issuer: the department's USCC or
catalogue key (ha-amr). valid_from, valid_until: YYYY-MM-DD (China time) or ISO 8601 with offset; valid_until empty,
{" or ".join(repr(v) for v in NO_EXPIRY if v)} means no expiry. status: {", ".join(repr(k) for k in STATUSES if k)}
(empty = active); revocation_kind: voluntary or penalty.

identifier: the licence identifier as issued, 1.2.156.3005.2.TYPE.ISSUER.SERIAL.VERSION.CHECK, whose TYPE and ISSUER
must be the row's type code and issuer USCC. CHECK is the ISO 7064 MOD 37,36 check character (hybrid system over
0-9A-Z, M = 36) of TYPE, ISSUER, SERIAL and the 3-digit VERSION joined without dots: starting from p = 36, for each
character of value v (0-9 = 0-9, A-Z = 10-35) s = (p + v) mod 36, or 36 if that is 0, and p = 2s mod 37; the check
character is the one of value (37 - p) mod 36. An identifier with a wrong check character is imported as it was issued
and flagged (its check is kept, not corrected).

Exit 0 when every row landed (or had landed before a resume), 1 when rows were rejected or the file was refused (its
header, its encoding), 2 on usage (a bad option, a format that is neither csv nor jsonl).
"""
IMPORT_HELP = "\n\n".join(" ".join(paragraph.split()) for paragraph in IMPORT_HELP.split("\n\n"))  # rich keeps \n

demo_app = typer.Typer(no_args_is_help=True, help="Demo content: synthetic licences.")


def register(app: typer.Typer) -> None:
    """Add `import` and `demo seed` to the root `trustledger` app."""
    app.command("import", help=IMPORT_HELP)(import_file)
    app.add_typer(demo_app, name="demo")


@contextmanager
def _progress(total: int | None, label: str) -> Iterator[Progress | None]:
    """A rich progress bar on stderr, or None under --json."""
    if CTX.json:
        yield None
        return
    columns = [
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        progress.add_task(label, total=total, note="")
        yield progress


def _crash_hook(after: int | None) -> Hook | None:
    """Testing aid: SIGKILL this process inside the transaction of batch `after` + 1, before it commits."""
    if after is None:
        return None

    def hook(batch: int) -> None:
        if batch > after:
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or JSON lines")],
    fmt: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: from the file name)")] = None,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="rows per transaction")] = DEFAULT_BATCH,
    rejects: Annotated[
        Path | None, typer.Option(help="rejects report, .csv or .jsonl (default: FILE.rejects.csv)")
    ] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="continue after the last committed row")] = True,
    crash_after_batches: Annotated[int | None, typer.Option(hidden=True, help="testing: SIGKILL mid-batch")] = None,
) -> None:
    """Import existing licences (存量证照): streaming, batched, resumable; rejected rows go to the rejects file."""
    try:
        source_format = detect_format(file, fmt)
    except ImportFileError as exc:
        raise fail(str(exc), 2) from exc
    rejects_path = rejects or file.with_name(file.name + ".rejects.csv")
    with region() as r:
        importer = BulkImporter(
            r.licences, ImportStore(r.store.engine), batch_size=batch, in_transaction=_crash_hook(crash_after_batches)
        )
        with _progress(None, "import") as bar:

            def on_progress(report: ImportReport) -> None:
                if bar is not None:
                    note = f"{report.imported:,} imported, {report.rejected:,} rejected"
                    bar.update(bar.task_ids[0], total=report.lines, completed=report.lines_done, note=note)

            try:
                report = importer.run(
                    file, source_format, rejects_path=rejects_path, resume=resume, on_progress=on_progress
                )
            except (ImportFileError, LicenceError) as exc:
                raise fail(f"{file.name}: {exc}") from exc
        r.sign_checkpoint()
    _emit_import(report)
    if report.rejected:
        raise typer.Exit(1)


def _emit_import(report: ImportReport) -> None:
    done = "already imported: nothing to do" if report.imported == 0 and report.skipped and not report.rejected else ""
    text = (
        f"imported {report.imported:,}, rejected {report.rejected:,}, skipped {report.skipped:,} "
        f"in {report.seconds:.1f} s ({report.rate:,.0f} licences/s)"
    )
    if report.resumed_from:
        text += f"; resumed after line {report.resumed_from:,}"
    if report.rejected:
        text += f"; reasons in {report.rejects_file}"
    emit(report.to_json(), f"{text}\n{done}".strip())


@demo_app.command("seed")
def demo_seed(
    licences: Annotated[int, typer.Option(min=1, max=10_000_000, help="how many licences")],
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="licences per transaction")] = 500,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same people)")] = 0,
) -> None:
    """Issue N realistic synthetic licences across the catalogue (valid ID numbers and USCCs, Chinese names)."""
    with region() as r:
        report = None
        with _progress(licences, "seed") as bar:
            try:
                for report in seed_licences(r.licences, licences, batch=batch, seed=seed):
                    if bar is not None:
                        note = f"{report.rate:,.0f}/s"
                        bar.update(bar.task_ids[0], completed=report.licences, note=note)
            except LicenceError as exc:
                raise fail(str(exc)) from exc
        r.sign_checkpoint()
    assert report is not None
    emit(
        {
            "licences": report.licences,
            "suspended": report.suspended,
            "revoked": report.revoked,
            "uses": report.uses,
            "seconds": round(report.seconds, 3),
            "rate": round(report.rate, 1),
        },
        f"seeded {report.licences:,} licences ({report.suspended} suspended, {report.revoked} revoked, "
        f"{report.uses} uses) in {report.seconds:.1f} s: {report.rate:,.0f} licences/s",
    )
