"""Published trust list versions (DESIGN §6): one row per version, the signed JSON exactly as served.

Table `trust_lists` (migration branch "trust", revision 0006_trust). A version is never changed once written; the
`content_sha256` column lets the publisher see whether the registry changed since the latest version without
re-reading the document. SQL lives here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from trustlists.errors import TrustListConflictError

metadata = MetaData()
_version = BigInteger().with_variant(Integer, "sqlite")

trust_lists = Table(
    "trust_lists",
    metadata,
    Column("version", _version, primary_key=True, autoincrement=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
    Column("next_update", DateTime(timezone=True), nullable=False),
    Column("document", Text, nullable=False),
)


@dataclass(frozen=True)
class TrustListRow:
    """One published version: its number, digests, times and the signed JSON text as served."""

    version: int
    payload_sha256: str  # SHA-256 of the RFC 8785 payload: the next version's previous_sha256
    content_sha256: str  # SHA-256 of the payload without version, chain link and times
    issued_at: datetime
    next_update: datetime
    document: str


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every time written here is UTC.
    return value if value.utcoffset() is not None else value.replace(tzinfo=UTC)


def _row(m: object) -> TrustListRow:
    return TrustListRow(
        version=int(m.version),  # type: ignore[attr-defined]
        payload_sha256=str(m.payload_sha256),  # type: ignore[attr-defined]
        content_sha256=str(m.content_sha256),  # type: ignore[attr-defined]
        issued_at=_aware(m.issued_at),  # type: ignore[attr-defined]
        next_update=_aware(m.next_update),  # type: ignore[attr-defined]
        document=str(m.document),  # type: ignore[attr-defined]
    )


class TrustListStore:
    """Reads and appends published trust list versions in the region database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_tables(self) -> None:
        """Create the table directly (tests; deployments run the Alembic migrations)."""
        metadata.create_all(self.engine)

    def latest(self) -> TrustListRow | None:
        """The newest published version, or None before the first."""
        with self.engine.connect() as conn:
            m = conn.execute(select(trust_lists).order_by(trust_lists.c.version.desc()).limit(1)).first()
        return None if m is None else _row(m)

    def get(self, version: int) -> TrustListRow | None:
        """Version `version`, or None."""
        with self.engine.connect() as conn:
            m = conn.execute(select(trust_lists).where(trust_lists.c.version == version)).first()
        return None if m is None else _row(m)

    def versions(self) -> list[int]:
        """Every published version number, oldest first."""
        with self.engine.connect() as conn:
            return [int(v) for v in conn.scalars(select(trust_lists.c.version).order_by(trust_lists.c.version))]

    def add(self, row: TrustListRow) -> None:
        """Append a new version; raises TrustListConflictError if that version number is taken."""
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(trust_lists).values(
                        version=row.version,
                        payload_sha256=row.payload_sha256,
                        content_sha256=row.content_sha256,
                        issued_at=row.issued_at,
                        next_update=row.next_update,
                        document=row.document,
                    )
                )
        except IntegrityError as exc:
            raise TrustListConflictError(f"trust list version {row.version} is already published") from exc
