"""Read model of bulk imports (SQL lives here): how far each source file got, written in the batch's transaction.

`import_progress` has one row per source file, keyed by the SHA-256 of its bytes: the last source line whose row has
landed or been rejected, and running counts. The row is written by the same transaction that commits the batch's
licences, so after a kill the checkpoint and the ledger agree and a resumed import neither skips nor repeats a row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, Integer, MetaData, String, Table, select

from ledger.store_columns import aware
from licences.store import licence_index

metadata = MetaData()

import_progress = Table(
    "import_progress",
    metadata,
    Column("file_sha256", String(64), primary_key=True),
    Column("source", String(500), nullable=False),
    Column("lines_done", BigInteger, nullable=False),
    Column("imported", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    Column("finished", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """How far the import of one source file got: every line up to `lines_done` landed or was rejected."""

    file_sha256: str
    source: str
    lines_done: int
    imported: int
    rejected: int
    finished: bool
    updated_at: datetime


class ImportStore:
    """The `import_progress` table and the look-ups the importer needs; shares the region's engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_tables(self) -> None:
        """Create the table (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    def progress(self, file_sha256: str) -> ImportProgress | None:
        """The checkpoint of a source file, or None if it was never imported."""
        with self.engine.connect() as conn:
            m = conn.execute(select(import_progress).where(import_progress.c.file_sha256 == file_sha256)).mappings()
            row = m.first()
        if row is None:
            return None
        updated = aware(row["updated_at"])
        assert updated is not None
        return ImportProgress(
            row["file_sha256"],
            row["source"],
            int(row["lines_done"]),
            int(row["imported"]),
            int(row["rejected"]),
            bool(row["finished"]),
            updated,
        )

    @staticmethod
    def put_progress(conn: Connection, progress: ImportProgress) -> None:
        """Insert or replace the checkpoint inside the caller's transaction (the batch's own)."""
        values = {
            "source": progress.source[-500:],
            "lines_done": progress.lines_done,
            "imported": progress.imported,
            "rejected": progress.rejected,
            "finished": int(progress.finished),
            "updated_at": progress.updated_at,
        }
        key = import_progress.c.file_sha256 == progress.file_sha256
        if conn.execute(import_progress.update().where(key).values(values)).rowcount == 0:
            conn.execute(import_progress.insert().values(file_sha256=progress.file_sha256, **values))

    def save_progress(self, progress: ImportProgress) -> None:
        """Write the checkpoint in a transaction of its own (a stretch of rows that were all rejected)."""
        with self.engine.begin() as conn:
            self.put_progress(conn, progress)

    def existing_licences(self, licence_ids: Iterable[str]) -> set[str]:
        """Which of these licence ids the library already holds (one query per 500 ids)."""
        ids = sorted(set(licence_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                query = select(licence_index.c.licence_id).where(licence_index.c.licence_id.in_(chunk))
                found.update(conn.execute(query).scalars())
        return found
