"""Witness policy "k of n": a checkpoint counts only when its log signed it and k of n known witnesses cosigned it.

Fails closed: a threshold below 1 or above n, an empty or repeated witness list, or a witness that shares the
log's key is refused at construction, because each of those would let one party alone vouch for a view of the log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from anchors.cosignature import Cosignature, CosignatureVerifier, verify_cosignatures
from anchors.errors import PolicyError
from signatures.errors import VerificationError
from signatures.note import CheckpointBody, NoteVerifier, open_checkpoint

MAX_FUTURE_SECONDS = 300  # cosignature timestamps further ahead of our clock are not counted (tlog-cosignature MAY)


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint whose log signature and enough cosignatures verified under a policy."""

    note: str
    body: CheckpointBody
    cosignatures: tuple[Cosignature, ...]


@dataclass(frozen=True)
class WitnessPolicy:
    """`threshold` of `witnesses` must cosign a checkpoint of the log `origin` signed by `log_verifier`."""

    origin: str
    log_verifier: NoteVerifier
    witnesses: tuple[CosignatureVerifier, ...]
    threshold: int

    def __post_init__(self) -> None:
        if type(self.threshold) is not int or self.threshold < 1:
            raise PolicyError(f"witness threshold must be at least 1, not {self.threshold!r}: 0 trusts the log alone")
        if self.threshold > len(self.witnesses):
            raise PolicyError(f"threshold {self.threshold} exceeds the {len(self.witnesses)} witnesses: unsatisfiable")
        names = {w.name for w in self.witnesses}
        if len(names) != len(self.witnesses) or len({w.public_key for w in self.witnesses}) != len(self.witnesses):
            raise PolicyError("a witness appears twice (same name or same key): it would be counted twice")
        if any(w.public_key == self.log_verifier.public_key for w in self.witnesses):
            raise PolicyError("a witness uses the log's own key: the log would vouch for itself")

    def verify(self, note: str | bytes, now: datetime | None = None) -> WitnessedCheckpoint:
        """Return the checkpoint if the log signed it and `threshold` witnesses cosigned it; else VerificationError."""
        # Steps: (1) log signature and origin; (2) every cosignature by a known witness verifies (a bad one rejects
        # the note); (3) drop cosignatures dated too far in the future; (4) count distinct witnesses against k.
        # (1): the log's own signature
        body = open_checkpoint(note, self.log_verifier, self.origin)
        # (2): cosignatures by known witnesses
        _, cosigs = verify_cosignatures(note, self.witnesses)
        # (3): no credit for a statement dated in the future
        if now is not None:
            limit = int(now.timestamp()) + MAX_FUTURE_SECONDS
            cosigs = [c for c in cosigs if c.timestamp <= limit]
        # (4): k of n distinct witnesses
        witnesses = {c.name for c in cosigs}
        if len(witnesses) < self.threshold:
            raise VerificationError(
                f"checkpoint cosigned by {len(witnesses)} of the required {self.threshold} witnesses "
                f"({', '.join(sorted(witnesses)) or 'none'})"
            )
        text = note if isinstance(note, str) else note.decode()
        return WitnessedCheckpoint(text, body, tuple(cosigs))
