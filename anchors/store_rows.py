"""Row ↔ value mapping of the anchors tables (no SQL here: `anchors.store` runs the statements)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from anchors.model import (
    Alarm,
    CollectedCosignature,
    PeerCheckpoint,
    PeerRecord,
    TimestampAnchor,
    WitnessedLog,
    format_time,
    parse_time,
)


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _opt_parse(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)


def witnessed_row(row: Any) -> WitnessedLog:
    """A witness state from its row."""
    return WitnessedLog(
        origin=row.origin,
        verifier_keys=tuple(json.loads(row.verifier_keys)),
        size=int(row.tree_size),
        root_hash=None if row.root_hash is None else bytes(row.root_hash),
        note=row.note,
        version=int(row.version),
        updated_at=_opt_parse(row.updated_at),
    )


def anchor_row(row: Any) -> TimestampAnchor:
    """A timestamp anchor from its row."""
    return TimestampAnchor(
        origin=row.origin,
        tree_size=int(row.tree_size),
        note=row.note,
        token=bytes(row.token),
        gen_time=parse_time(row.gen_time),
        anchored_at=parse_time(row.anchored_at),
    )


def cosignature_values(c: CollectedCosignature) -> dict[str, object]:
    """The row of a collected cosignature."""
    return {
        "note_sha256": c.note_sha256,
        "witness": c.witness,
        "key_id": c.key_id,
        "tree_size": c.tree_size,
        "timestamp": c.timestamp,
        "line": c.line,
    }


def cosignature_row(row: Any) -> CollectedCosignature:
    """A collected cosignature from its row."""
    return CollectedCosignature(
        tree_size=int(row.tree_size),
        note_sha256=bytes(row.note_sha256),
        witness=row.witness,
        key_id=bytes(row.key_id),
        timestamp=int(row.timestamp),
        line=row.line,
    )


def peer_values(p: PeerRecord) -> dict[str, object]:
    """The row of a peer."""
    return {
        "origin": p.origin,
        "base_url": p.base_url,
        "root_key": p.root_key,
        "witness_key": p.witness_key,
        "added_at": format_time(p.added_at),
        "trust_list": p.trust_list,
        "trust_list_version": p.trust_list_version,
        "next_update": _opt_time(p.next_update),
        "last_sync_at": _opt_time(p.last_sync_at),
        "last_error": p.last_error,
    }


def peer_row(row: Any) -> PeerRecord:
    """A peer from its row."""
    return PeerRecord(
        origin=row.origin,
        base_url=row.base_url,
        root_key=bytes(row.root_key),
        witness_key=row.witness_key,
        added_at=parse_time(row.added_at),
        trust_list=row.trust_list,
        trust_list_version=None if row.trust_list_version is None else int(row.trust_list_version),
        next_update=_opt_parse(row.next_update),
        last_sync_at=_opt_parse(row.last_sync_at),
        last_error=row.last_error,
    )


def peer_checkpoint_row(row: Any) -> PeerCheckpoint:
    """A peer checkpoint from its row."""
    return PeerCheckpoint(
        origin=row.origin,
        size=int(row.tree_size),
        root_hash=bytes(row.root_hash),
        note=row.note,
        seen_at=parse_time(row.seen_at),
    )


def alarm_row(row: Any) -> Alarm:
    """An alarm from its row."""
    return Alarm(
        id=int(row.id),
        origin=row.origin,
        kind=row.kind,
        detail=row.detail,
        first_size=int(row.first_size),
        first_note=row.first_note,
        second_size=int(row.second_size),
        second_note=row.second_note,
        proof=tuple(json.loads(row.proof)),
        detected_at=parse_time(row.detected_at),
    )
