"""Values of the anchors package: witnessed logs, timestamp anchors, peers, the checkpoints seen, fork alarms."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from signatures.note import NoteVerifier, parse_verifier_key

ALARM_KINDS = ("fork-same-size", "fork-inconsistent", "trust-list-fork", "witness-fork")


def note_digest(note: str) -> bytes:
    """SHA-256 of a note's UTF-8 bytes: the RFC 3161 message imprint and the key of a stored anchor."""
    return hashlib.sha256(note.encode()).digest()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds and `Z`, the one form stored."""
    if moment.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Inverse of `format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True)
class WitnessedLog:
    """A log this region witnesses: its trusted checkpoint keys and the latest checkpoint it cosigned (size 0: none).

    `version` increases with every update; the witness advances the state only if it is still the one it checked
    (compare-and-swap), so two concurrent requests can never both be cosigned from the same old size.
    """

    origin: str
    verifier_keys: tuple[str, ...]
    size: int = 0
    root_hash: bytes | None = None
    note: str | None = None
    version: int = 0
    updated_at: datetime | None = None

    def verifiers(self) -> list[NoteVerifier]:
        """The parsed Go-note verifier keys trusted for this origin."""
        return [parse_verifier_key(k) for k in self.verifier_keys]


@dataclass(frozen=True)
class TimestampAnchor:
    """An RFC 3161 time-stamp token over one of our checkpoint notes (imprint: SHA-256 of the note bytes)."""

    origin: str
    tree_size: int
    note: str
    token: bytes
    gen_time: datetime
    anchored_at: datetime

    @property
    def note_sha256(self) -> bytes:
        """The message imprint the token must carry."""
        return note_digest(self.note)


@dataclass(frozen=True)
class CollectedCosignature:
    """A witness's verified cosignature on one of our checkpoints, kept with the checkpoint size and note digest."""

    tree_size: int
    note_sha256: bytes
    witness: str
    key_id: bytes
    timestamp: int
    line: str


@dataclass(frozen=True)
class PeerRecord:
    """A federated region: where it is served, the keys pinned for it, and the newest verified trust list."""

    origin: str
    base_url: str
    root_key: bytes
    witness_key: str | None
    added_at: datetime
    trust_list: str | None = None
    trust_list_version: int | None = None
    next_update: datetime | None = None
    last_sync_at: datetime | None = None
    last_error: str | None = None

    def to_json(self, checkpoint_size: int | None = None) -> dict[str, object]:
        """The API and CLI form (the root key as its SHA-256, enough to compare out of band)."""
        return {
            "origin": self.origin,
            "url": self.base_url,
            "root_key_sha256": hashlib.sha256(self.root_key).hexdigest(),
            "witness_key": self.witness_key,
            "trust_list_version": self.trust_list_version,
            "next_update": None if self.next_update is None else format_time(self.next_update),
            "last_sync_at": None if self.last_sync_at is None else format_time(self.last_sync_at),
            "last_error": self.last_error,
            "checkpoint_size": checkpoint_size,
        }


@dataclass(frozen=True)
class PeerCheckpoint:
    """A peer checkpoint this region verified (log signature, and consistency with every one it saw before)."""

    origin: str
    size: int
    root_hash: bytes
    note: str
    seen_at: datetime


@dataclass(frozen=True)
class Alarm:
    """Evidence that a log showed two views that cannot both be true: both notes and the proof that failed.

    Kinds: `fork-same-size` (two roots for one size: self-evident), `fork-inconsistent` (no valid consistency proof
    between two signed checkpoints), `trust-list-fork` (two documents for one trust list version), `witness-fork`
    (a checkpoint submitted to our witness contradicts the one we cosigned).
    """

    id: int
    origin: str
    kind: str
    detail: str
    first_size: int
    first_note: str
    second_size: int
    second_note: str
    proof: tuple[str, ...]
    detected_at: datetime

    def to_json(self) -> dict[str, object]:
        """The API and CLI form."""
        return {
            "id": self.id,
            "origin": self.origin,
            "kind": self.kind,
            "detail": self.detail,
            "first": {"size": self.first_size, "note": self.first_note},
            "second": {"size": self.second_size, "note": self.second_note},
            "proof": list(self.proof),
            "detected_at": format_time(self.detected_at),
        }
