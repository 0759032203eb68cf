"""The seal PKI's ledger events (DESIGN §7, ADR 0007), written and read under their original topics.

These classes were first released in `licences/seal_registry.py`, and an event's topic (`module:Class`) is part of its
leaf data (docs/formats.md §1.1) and of every stored row. Moving the module must change neither the leaves of new
events nor the reading of old ones, so each class gets `__module__ = "licences.seal_registry"` (new events are
written under the old topic, byte for byte as before) and is registered under that topic with eventsourcing's
`register_topic` (reading resolves it to this class; the module `licences.seal_registry` no longer exists, so
whatever decodes seal events must have imported this module, as `seals.registry` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.domain import DomainEvent
from eventsourcing.utils import register_topic

RELEASED_MODULE = "licences.seal_registry"  # where these events were released: their topics name it, for good


@dataclass(frozen=True)
class SealAuthorityCertified(DomainEvent):
    """The region seal CA (`role` "ca", self-signed) or its time-stamp authority (`role` "tsa") got a certificate."""

    role: str
    serial: str
    not_before: datetime
    not_after: datetime
    cert_sha256: str
    pem: str


@dataclass(frozen=True)
class SealCertificateIssued(DomainEvent):
    """The region CA issued a department's seal certificate (serial in lower-case hex; SHA-256 of its DER)."""

    serial: str
    issuer_uscc: str
    not_before: datetime
    not_after: datetime
    cert_sha256: str
    pem: str


@dataclass(frozen=True)
class SealCertificateRevoked(DomainEvent):
    """A seal certificate is revoked from `revoked_at` on (RFC 5280 §5.3.1 reason code name in `reason`)."""

    serial: str
    revoked_at: datetime
    reason: str


SEAL_EVENTS: tuple[type[DomainEvent], ...] = (SealAuthorityCertified, SealCertificateIssued, SealCertificateRevoked)
for _event in SEAL_EVENTS:
    # Set after the class is made: dataclasses resolve the field annotations in the module named by `__module__`.
    _event.__module__ = RELEASED_MODULE
    register_topic(f"{RELEASED_MODULE}:{_event.__qualname__}", _event)
