"""The seal PKI's read models in the audit (DESIGN §4, §7): re-derive them from the seal events and compare.

`SealRegistryAudit` is a `ledger.audit.AuditHook`, modelled on `licences.status_audit`: as the audit walks the log it
decodes the seal events (`seals.events`, recognised by their released topics, never resolved from the database) and
folds them the way `seals.registry` wrote `seal_authorities` and `seal_certificates` (a certificate's revocation
included: what the CRL and every seal validation read); after the walk both tables are compared with the stored ones,
every column, in key order (`ledger.derived_audit.check_derived_tables`). A region holds a CA, a TSA and a few
certificates per department, so the state stays in dicts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger.derived_audit import DerivedTable, check_derived_tables
from ledger.errors import AuditFailure
from seals.events import SEAL_EVENTS, SealAuthorityCertified, SealCertificateIssued, SealCertificateRevoked
from seals.store import seal_authorities, seal_certificates
from seals.store_audit import write_seal_registry

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.store import Checkpoint, EventRow
    from signatures.note import CheckpointBody

SEAL_TOPICS = frozenset(get_topic(cls) for cls in SEAL_EVENTS)  # the released topics (`seals.events`)
_TIMES = ("not_before", "not_after")
SEAL_TABLES = (
    DerivedTable(seal_authorities, ("role", "serial"), (*_TIMES, "cert_sha256", "pem", "version", "leaf_index")),
    DerivedTable(
        seal_certificates,
        ("serial",),
        (
            "issuer_uscc",
            *_TIMES,
            "cert_sha256",
            "pem",
            "issued_leaf",
            "revoked_at",
            "revocation_reason",
            "revocation_recorded_at",
            "revoked_leaf",
        ),
    ),
)


class SealRegistryAudit:
    """Re-derives the seal authorities and seal certificates (with their revocations) as the audit walks."""

    def __init__(self, mapper: Mapper[UUID], scratch: Connection) -> None:
        self._mapper = mapper
        self._scratch = scratch
        self._authorities: dict[tuple[str, str], dict[str, Any]] = {}
        self.certificates: dict[str, dict[str, Any]] = {}  # serial → its seal_certificates row

    def on_event(self, conn: Connection, row: EventRow) -> None:
        if row[3] not in SEAL_TOPICS:
            return
        index, stream, version, topic, state = row[:5]
        try:
            e = self._mapper.to_domain_event(StoredEvent(UUID(stream), version, topic, state))
        except Exception as exc:  # whatever the decoder raises, the row is not the event its topic names
            raise AuditFailure(index, f"seal registry: event {index} ({topic}) cannot be decoded: {exc}") from exc
        if isinstance(e, SealAuthorityCertified):
            self._authorities[(e.role, e.serial)] = {
                "role": e.role,
                **_certificate(e),
                "version": e.originator_version,
                "leaf_index": index,
            }
        elif isinstance(e, SealCertificateIssued):
            self.certificates[e.serial] = {
                "issuer_uscc": e.issuer_uscc,
                **_certificate(e),
                "issued_leaf": index,
                **dict.fromkeys(("revoked_at", "revocation_reason", "revocation_recorded_at", "revoked_leaf")),
            }
        elif isinstance(e, SealCertificateRevoked):
            self._revoked(e, index)

    def _revoked(self, e: SealCertificateRevoked, index: int) -> None:
        certificate = self.certificates.get(e.serial)
        if certificate is None:
            raise AuditFailure(index, f"seal_certificates: event {index} revokes {e.serial}, never issued")
        certificate.update(  # as `SealStore.mark_revoked` writes it: recorded at the event's time
            revoked_at=e.revoked_at,
            revocation_reason=e.reason,
            revocation_recorded_at=e.timestamp,
            revoked_leaf=index,
        )

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        """Nothing to check at a checkpoint: the tables hold only the newest state."""

    def on_finish(self, conn: Connection, size: int) -> None:
        write_seal_registry(self._scratch, list(self._authorities.values()), list(self.certificates.values()))
        check_derived_tables(SEAL_TABLES, conn, self._scratch)


def _certificate(e: SealAuthorityCertified | SealCertificateIssued) -> dict[str, Any]:
    return {
        "serial": e.serial,
        "not_before": e.not_before,
        "not_after": e.not_after,
        "cert_sha256": e.cert_sha256,
        "pem": e.pem,
    }


__all__ = ["SEAL_TABLES", "SealRegistryAudit"]
