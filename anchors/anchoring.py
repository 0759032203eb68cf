"""Anchoring our own checkpoints in time: an RFC 3161 time-stamp token over each new checkpoint note, stored with it.

The token's message imprint is SHA-256 of the note's UTF-8 bytes (signature lines included), so it fixes both the
tree head and the log's signature on it. Obtaining and checking tokens is the seals package's craft; anchors only
sees two small ports, wired by the composition root.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from anchors.errors import AnchorStoreError, TimestampUnavailableError
from anchors.model import TimestampAnchor, note_digest
from anchors.store import AnchorStore
from clock import Clock
from signatures.errors import VerificationError
from signatures.note import parse_checkpoint, split_note


class Timestamper(Protocol):
    """A time-stamp authority client: a DER TimeStampToken (RFC 3161 §2.4.2) for a SHA-256 digest."""

    def timestamp(self, digest: bytes) -> bytes:
        """The token (CMS ContentInfo) whose message imprint is `digest`; TimestampUnavailableError if none."""
        ...


class TimestampVerifier(Protocol):
    """Checks a time-stamp token against trusted TSA roots."""

    def verify(self, token: bytes, digest: bytes) -> datetime:
        """The token's genTime if it is a valid token over `digest` from a trusted TSA; else VerificationError."""
        ...


def anchor_checkpoint(
    store: AnchorStore,
    note: str,
    timestamper: Timestamper,
    verifier: TimestampVerifier,
    clock: Clock,
) -> TimestampAnchor:
    """Timestamp this checkpoint note unless it already is; the token is checked before it is stored."""
    existing = store.timestamp_for(note)
    if existing is not None:
        return existing
    text, _ = split_note(note)
    body = parse_checkpoint(text)
    digest = note_digest(note)
    token = timestamper.timestamp(digest)
    try:
        gen_time = verifier.verify(token, digest)
    except VerificationError as exc:
        raise TimestampUnavailableError(
            f"the time-stamp authority returned a token that does not verify: {exc}"
        ) from exc
    anchor = TimestampAnchor(body.origin, body.size, note, token, gen_time, clock())
    if not store.save_timestamp(anchor):  # another worker anchored it first: keep theirs
        stored = store.timestamp_for(note)
        if stored is None:
            raise AnchorStoreError("timestamp anchor vanished after a conflicting insert")
        return stored
    return anchor


def verify_anchor(anchor: TimestampAnchor, verifier: TimestampVerifier) -> datetime:
    """Re-check a stored anchor: the token covers SHA-256 of the stored note; returns the token's genTime."""
    gen_time = verifier.verify(anchor.token, anchor.note_sha256)
    if gen_time != anchor.gen_time:
        raise VerificationError("stored genTime differs from the token's")
    return gen_time
