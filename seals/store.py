"""Read models of the region's seal PKI (DESIGN §7), written in the same transaction as the ledger events they reflect.

Tables: `seal_authorities` (the region seal CA and TSA certificates, one row per certificate) and `seal_certificates`
(each department's seal certificates with their revocation). Serial numbers are stored as lower-case hex: RFC 5280
serials run to 20 octets, beyond any SQL integer. SQL lives here only; the registry (`seals.registry`) hands rows in and
gets rows out. Moved from `licences/store_seals.py`; the tables and their names are unchanged (migration `0007_seals`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    RowMapping,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)

from ledger.store import LedgerStore
from ledger.store_columns import LEAF, WHEN, aware

metadata = MetaData()

seal_authorities = Table(
    "seal_authorities",
    metadata,
    Column("role", String(8), nullable=False),
    Column("serial", String(40), nullable=False),
    Column("not_before", WHEN, nullable=False),
    Column("not_after", WHEN, nullable=False),
    Column("cert_sha256", String(64), nullable=False),
    Column("pem", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("leaf_index", LEAF, nullable=False),
    PrimaryKeyConstraint("role", "serial", name="pk_seal_authorities"),
)

seal_certificates = Table(
    "seal_certificates",
    metadata,
    Column("serial", String(40), primary_key=True),
    Column("issuer_uscc", String(18), nullable=False),
    Column("not_before", WHEN, nullable=False),
    Column("not_after", WHEN, nullable=False),
    Column("cert_sha256", String(64), nullable=False),
    Column("pem", Text, nullable=False),
    Column("issued_leaf", LEAF, nullable=False),
    Column("revoked_at", WHEN, nullable=True),
    Column("revocation_reason", String(32), nullable=True),
    Column("revocation_recorded_at", WHEN, nullable=True),
    Column("revoked_leaf", LEAF, nullable=True),
    Index("ix_seal_certificates_issuer", "issuer_uscc", "issued_leaf"),
)


@dataclass(frozen=True, slots=True)
class AuthorityRow:
    """One certificate of the region's seal CA (`role` "ca") or time-stamp authority (`role` "tsa")."""

    role: str
    serial: str
    not_before: datetime
    not_after: datetime
    cert_sha256: str
    pem: str
    version: int
    leaf_index: int


@dataclass(frozen=True, slots=True)
class SealCertificateRow:
    """One department seal certificate and, once revoked, when and why."""

    serial: str
    issuer_uscc: str
    not_before: datetime
    not_after: datetime
    cert_sha256: str
    pem: str
    issued_leaf: int
    revoked_at: datetime | None = None
    revocation_reason: str | None = None
    revocation_recorded_at: datetime | None = None
    revoked_leaf: int | None = None


def _when_of(value: datetime | None) -> datetime:
    moment = aware(value)
    assert moment is not None  # NOT NULL columns
    return moment


class SealStore:
    """Queries and same-transaction writes of the seal PKI read models; shares the ledger's engine."""

    def __init__(self, ledger: LedgerStore) -> None:
        self.engine = ledger.engine

    def create_tables(self) -> None:
        """Create the tables (tests; deployments run the Alembic migration `0007_seals`)."""
        metadata.create_all(self.engine)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- authorities --------------------------------------------------------------------------------------------

    @staticmethod
    def put_authority(conn: Connection, row: AuthorityRow) -> None:
        """Record a CA or TSA certificate."""
        conn.execute(
            insert(seal_authorities).values(
                role=row.role,
                serial=row.serial,
                not_before=row.not_before,
                not_after=row.not_after,
                cert_sha256=row.cert_sha256,
                pem=row.pem,
                version=row.version,
                leaf_index=row.leaf_index,
            )
        )

    def authorities(self, role: str | None = None) -> list[AuthorityRow]:
        """Authority certificates (of one role), oldest first."""
        query = select(seal_authorities).order_by(seal_authorities.c.leaf_index)
        if role is not None:
            query = query.where(seal_authorities.c.role == role)
        with self._read() as conn:
            return [
                AuthorityRow(
                    m["role"],
                    m["serial"],
                    _when_of(m["not_before"]),
                    _when_of(m["not_after"]),
                    m["cert_sha256"],
                    m["pem"],
                    m["version"],
                    m["leaf_index"],
                )
                for m in conn.execute(query).mappings()
            ]

    # -- department seal certificates ---------------------------------------------------------------------------

    @staticmethod
    def put_certificate(conn: Connection, row: SealCertificateRow) -> None:
        """Record a newly issued seal certificate."""
        conn.execute(
            insert(seal_certificates).values(
                serial=row.serial,
                issuer_uscc=row.issuer_uscc,
                not_before=row.not_before,
                not_after=row.not_after,
                cert_sha256=row.cert_sha256,
                pem=row.pem,
                issued_leaf=row.issued_leaf,
            )
        )

    @staticmethod
    def mark_revoked(
        conn: Connection, serial: str, revoked_at: datetime, reason: str, recorded_at: datetime, leaf: int
    ) -> None:
        """Record the revocation of a seal certificate (effective `revoked_at`, written to the ledger at
        `recorded_at`, which may be later: a key compromise is often discovered after the fact)."""
        conn.execute(
            update(seal_certificates)
            .where(seal_certificates.c.serial == serial)
            .values(
                revoked_at=revoked_at, revocation_reason=reason, revocation_recorded_at=recorded_at, revoked_leaf=leaf
            )
        )

    def certificates(self, issuer_uscc: str | None = None) -> list[SealCertificateRow]:
        """Seal certificates (of one department), in order of issue."""
        query = select(seal_certificates).order_by(seal_certificates.c.issued_leaf)
        if issuer_uscc is not None:
            query = query.where(seal_certificates.c.issuer_uscc == issuer_uscc)
        with self._read() as conn:
            return [self._row(m) for m in conn.execute(query).mappings()]

    def certificate(self, serial: str) -> SealCertificateRow | None:
        """One seal certificate by its serial (lower-case hex), or None."""
        with self._read() as conn:
            m = conn.execute(select(seal_certificates).where(seal_certificates.c.serial == serial)).mappings().first()
        return None if m is None else self._row(m)

    def revoked(self) -> list[SealCertificateRow]:
        """Every revoked seal certificate, in order of revocation (the CRL's entries)."""
        query = (
            select(seal_certificates)
            .where(seal_certificates.c.revoked_leaf.is_not(None))
            .order_by(seal_certificates.c.revoked_leaf)
        )
        with self._read() as conn:
            return [self._row(m) for m in conn.execute(query).mappings()]

    @staticmethod
    def _row(m: RowMapping) -> SealCertificateRow:
        return SealCertificateRow(
            serial=m["serial"],
            issuer_uscc=m["issuer_uscc"],
            not_before=_when_of(m["not_before"]),
            not_after=_when_of(m["not_after"]),
            cert_sha256=m["cert_sha256"],
            pem=m["pem"],
            issued_leaf=m["issued_leaf"],
            revoked_at=aware(m["revoked_at"]),
            revocation_reason=m["revocation_reason"],
            revocation_recorded_at=aware(m["revocation_recorded_at"]),
            revoked_leaf=m["revoked_leaf"],
        )
