"""Read model of bulk imports (SQL lives here): how far each source file got, written in the batch's transaction.

`import_progress` has one row per source file, keyed by the file's *keyed* digest (`import_file_key`): the last source
line whose row has landed or been rejected, and running counts. The row is written by the same transaction that
commits the batch's licences, so after a kill the checkpoint and the ledger agree and a resumed import neither skips
nor repeats a row.

The key is never a bare SHA-256 of the file: a bulk-import file holds holders' names and ID numbers, and a bare hash
would let anyone with a copy of the database confirm a guessed small file (one holder, a few candidate rows). It is
HMAC-SHA-256 of the file's SHA-256 under a key derived from the region's secret holder salt, as the idempotency
fingerprints are (`licences.idempotency`, ADR 0013), with its own label; the same file still gives the same key, so a
resumed import finds its checkpoint. (The column keeps its name `file_sha256`: renaming it would need a migration.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Connection, DateTime, Engine, Integer, MetaData, String, Table, select

from ledger.store_columns import aware
from licences.errors import InvalidFieldError, PrivacyError
from licences.privacy import MIN_SALT_BYTES
from licences.store import licence_index

_IMPORT_FILE_LABEL = b"trustledger/import-file/v1"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

metadata = MetaData()


def import_file_key(secret: bytes, file_sha256: str) -> str:
    """The `import_progress` key of a source file whose SHA-256 (hex) is `file_sha256`: HMAC-SHA-256 (hex, 64 chars)
    under HMAC-SHA-256(secret, label), `secret` being the region's secret holder salt. Deterministic, so a re-run of
    the same file resumes; without the secret a guessed file cannot be checked against the table."""
    if len(secret) < MIN_SALT_BYTES:
        raise PrivacyError(f"the import key secret must be at least {MIN_SALT_BYTES} bytes")
    if not _SHA256_HEX.fullmatch(file_sha256):
        raise InvalidFieldError("file_sha256", "must be 64 lowercase hex digits")
    key = hmac.new(secret, _IMPORT_FILE_LABEL, hashlib.sha256).digest()
    return hmac.new(key, bytes.fromhex(file_sha256), hashlib.sha256).hexdigest()


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

    file_sha256: str  # the keyed digest `import_file_key` gives, not the file's bare SHA-256
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
