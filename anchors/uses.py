"""Uses of another region's licence (跨省通办 用证), recorded on this region's own ledger.

DESIGN §1: every use is recorded. An approval system here cannot write to the issuing region's ledger, so the use
goes to ours: one `PeerLicenceInvoked` per use in its own stream (as `LicenceInvoked` is for our own licences), with
the verdict and the evidence it rested on (trust list version, checkpoint size, acceptance rule version). A refused
or unconfirmed verification is recorded as well; only a `valid` verdict is an accepted use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, Mapper, UUIDAsHex

from anchors.errors import AnchorError
from ledger.persistence import LedgerRecorder

_MATTER_CODE = re.compile(r"[0-9A-Za-z._-]{1,64}")
_LIMITS = {"verifier": 200, "purpose": 500, "consent": 1000}


class UseInputError(AnchorError):
    """A use that cannot be recorded: the field named is missing or malformed."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class UseRequest:
    """Who uses the licence, for which matter (事项), why, and the holder's consent evidence (用证授权)."""

    verifier: str
    matter_code: str
    purpose: str
    consent: str

    def __post_init__(self) -> None:
        if _MATTER_CODE.fullmatch(self.matter_code) is None:
            raise UseInputError("matter_code", "must be 1-64 characters of 0-9A-Za-z._-")
        for name, limit in _LIMITS.items():
            value = getattr(self, name)
            if not value.strip() or len(value) > limit:
                raise UseInputError(name, f"must be 1-{limit} characters")


class PeerLicenceInvoked(Aggregate.Created):
    """An approval system of this region relied on (or was refused) a licence of the peer region `origin`."""

    class_version = 1
    origin: str
    identifier: str
    licence_version: int
    leaf_index: int
    verifier: str
    matter_code: str
    purpose: str
    consent: str
    verdict: str
    outcome: str
    reasons: list[str]
    trust_list_version: int | None
    checkpoint_size: int | None
    acceptance_version: int | None

    def apply(self, aggregate: Any) -> None:
        """Set the record's state."""
        assert isinstance(aggregate, PeerLicenceUse)
        aggregate._on_invoked(self)


class PeerLicenceUse(Aggregate):
    """The record of one use of a peer region's licence; its stream holds exactly one `PeerLicenceInvoked`."""

    @classmethod
    def record(cls, *, now: datetime, use: UseRequest, facts: dict[str, Any]) -> PeerLicenceUse:
        """A new use record: `facts` carries origin, identifier, versions, verdict and the evidence sizes."""
        return cls._create(
            PeerLicenceInvoked,
            id=uuid4(),
            timestamp=now,
            verifier=use.verifier.strip(),
            matter_code=use.matter_code,
            purpose=use.purpose.strip(),
            consent=use.consent.strip(),
            outcome="accepted" if facts["verdict"] == "valid" else "refused",
            **facts,
        )

    def _on_invoked(self, e: PeerLicenceInvoked) -> None:
        self.origin: str = e.origin
        self.identifier: str = e.identifier
        self.verdict: str = e.verdict
        self.outcome: str = e.outcome


@dataclass(frozen=True)
class RecordedUse:
    """Where a use was recorded: its stream id and leaf index on this region's log."""

    use_id: UUID
    leaf_index: int
    outcome: str


def _mapper() -> Mapper[UUID]:
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    return Mapper(transcoder=transcoder)


_MAPPER = _mapper()


def record_peer_use(recorder: LedgerRecorder, now: datetime, use: UseRequest, facts: dict[str, Any]) -> RecordedUse:
    """Append the use to this region's ledger (one transaction, one leaf) and say where it landed."""
    record = PeerLicenceUse.record(now=now, use=use, facts=facts)
    events = record.collect_events()
    leaves: list[int] = []
    stored = [_MAPPER.to_stored_event(e) for e in events]
    recorder.insert_events(stored, same_transaction=lambda _conn, indexes: leaves.extend(indexes))
    return RecordedUse(record.id, leaves[0], record.outcome)


def load_peer_use(recorder: LedgerRecorder, use_id: UUID) -> PeerLicenceUse | None:
    """Replay a recorded use from the ledger (auditors, tests)."""
    aggregate: Any = None
    for stored in recorder.select_events(use_id):
        aggregate = _MAPPER.to_domain_event(stored).mutate(aggregate)  # type: ignore[attr-defined]
    return aggregate if isinstance(aggregate, PeerLicenceUse) else None
