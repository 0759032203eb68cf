"""Published trust list versions in the audit (DESIGN §4, §6): signed, chained, and true to the registry of their time.

A trust list version is not derived from the events alone (its region name, seal certificates and times come from
the configuration and the clock), so it is not re-derived; it is checked. `TrustListAudit` is a
`ledger.audit.AuditHook` that walks the stored versions in step with the log. Steps, each labelled below:
  (1) the stored issue times never go backwards from one version to the next;
  (2) each version's document is signed by the region root key and chained to the version before
      (`signatures.trustlist.verify_trust_list`: version + 1, `previous_sha256`, same region and log);
  (3) its columns (version, payload and content digests, issue and update times) are those of its document;
  (4) every key it lists is a registered key of that issuer whose lifecycle (validity, retirement, compromise, cut to
      whole seconds as the list holds them) equals the registry's re-derived from the events as of the version's
      issue time: a state the registry had between `issued_at` and the end of that second, since `issued_at` is cut
      to the second and the publisher read the registry within it (a key event committed in that very second, but
      recorded before it, could be reported; no such race has been seen).
The registry's state comes from `licences.derived_audit.RegistryAudit`, which must come after this hook in the
audit's hook list (this hook sees each event before the registry folds it). Not caught here: a deleted newest
version (nothing after it links to it), and a listed issuer's key left out of a version (verifiers then refuse what
that key signed: it fails closed).
"""

from __future__ import annotations

import base64
import hashlib
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.utils import get_topic

from ledger.derived_audit import show
from ledger.envelope import format_recorded_at
from ledger.errors import AuditFailure
from licences.derived_audit import RegistryAudit
from licences.registry import SigningKeyCompromised, SigningKeyRegistered, SigningKeyRetired
from signatures.errors import MalformedError, VerificationError
from signatures.keyring import KeyRecord
from signatures.kids import kid_text
from signatures.trustlist import TrustList, parse_signed_trust_list, verify_trust_list
from trustlists.store import TrustListRow
from trustlists.store_audit import version_row, version_times

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.store import Checkpoint, EventRow
    from signatures.note import CheckpointBody

NOT_LEAF_BOUND = -1
KEY_TOPICS = frozenset(get_topic(c) for c in (SigningKeyRegistered, SigningKeyRetired, SigningKeyCompromised))
KEY_COLUMNS = ("owner", "alg", "public_key", "not_before", "not_after", "retired_at", "compromised_since")
_CHAIN_FIELDS = ("version", "previous_sha256", "issued_at", "next_update")  # left out of the content digest
KeyState = tuple[Any, ...]


@dataclass
class _Window:
    """A version whose issue second the walk is in: the key states the registry passed through in it, by kid."""

    version: int
    issued_at: datetime
    until: str  # recorded_at of the end of the issue second
    states: dict[str, set[KeyState]] = field(default_factory=dict)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _second(value: datetime | None) -> datetime | None:
    return None if value is None else _aware(value).replace(microsecond=0)


def _state(row: dict[str, Any]) -> KeyState:
    """A registry_keys row as a trust list holds it (times cut to whole seconds)."""
    times = tuple(_second(row[c]) for c in KEY_COLUMNS[3:])
    return (row["owner"], row["alg"], row["public_key"], *times)


def _listed(uscc: str, key: KeyRecord) -> KeyState:
    times = (key.not_before, key.not_after, key.retired_at, key.compromised_since)
    return (uscc, key.alg, base64.b64encode(key.public_key).decode(), *(_second(t) for t in times))


class TrustListAudit:
    """Checks every published trust list version as the walk passes its issue time (an `AuditHook`)."""

    def __init__(self, root_public_key: Ed25519PublicKey, registry: RegistryAudit) -> None:
        self._root = root_public_key
        self._registry = registry
        self._pending: deque[tuple[int, datetime]] | None = None
        self._open: deque[_Window] = deque()
        self._key_event = False  # the previous event changed a key: its new state is one more the window saw
        self._previous: TrustList | None = None
        self.count = 0

    def _load(self, conn: Connection) -> deque[tuple[int, datetime]]:
        if self._pending is None:
            times = [(v, _aware(at)) for v, at in version_times(conn)]
            for (_, before), (version, at) in pairwise(times):
                if at < before:  # (1)
                    raise AuditFailure(
                        NOT_LEAF_BOUND, f"trust_lists version {version}: issued before the version before"
                    )
            self._pending = deque(times)
        return self._pending

    def _capture(self) -> None:
        if self._key_event:
            for window in self._open:
                for kid, row in self._registry.keys.items():
                    window.states.setdefault(kid, set()).add(_state(row))
            self._key_event = False

    def _advance(self, conn: Connection, recorded_at: str | None) -> None:
        """Open the windows the walk has reached (the registry as it stands) and check the ones it has passed."""
        pending = self._load(conn)
        while pending and (recorded_at is None or format_recorded_at(pending[0][1]) <= recorded_at):
            version, at = pending.popleft()
            window = _Window(version, at, format_recorded_at(at + timedelta(seconds=1)))
            window.states = {kid: {_state(row)} for kid, row in self._registry.keys.items()}
            self._open.append(window)
        while self._open and (recorded_at is None or self._open[0].until <= recorded_at):
            self._check(conn, self._open.popleft())

    def on_event(self, conn: Connection, row: EventRow) -> None:
        self._capture()
        self._advance(conn, row[5])
        self._key_event = row[3] in KEY_TOPICS

    def on_checkpoint(self, conn: Connection, body: CheckpointBody, stored: Checkpoint | None, label: str) -> None:
        """Trust lists are not bound to checkpoints."""

    def on_finish(self, conn: Connection, size: int) -> None:
        self._capture()
        self._advance(conn, None)

    def _check(self, conn: Connection, window: _Window) -> None:
        row = version_row(conn, window.version)
        label = f"trust_lists version {row.version}"
        try:  # (2) signed by the root key, chained to the version before
            signed = parse_signed_trust_list(row.document)
            doc = verify_trust_list(signed, self._root, row.issued_at, self._previous, allow_stale=True)
        except (MalformedError, VerificationError) as exc:
            raise AuditFailure(NOT_LEAF_BOUND, f"{label}: document: {exc}") from exc
        _check_columns(label, row, doc)
        for issuer in doc.issuers:  # (4) the keys as the registry had them then
            for key in issuer.keys:
                _check_key(label, window, key.kid.hex(), _listed(issuer.uscc, key))
        self._previous = doc
        self.count += 1


def _check_columns(label: str, row: TrustListRow, doc: TrustList) -> None:
    """(3) The stored columns are those of the signed document."""
    payload = doc.to_payload()
    content = rfc8785.dumps({k: v for k, v in payload.items() if k not in _CHAIN_FIELDS})  # type: ignore[misc]
    for column, stored, signed in (
        ("version", row.version, doc.version),
        ("payload_sha256", row.payload_sha256, doc.digest()),
        ("content_sha256", row.content_sha256, hashlib.sha256(content).hexdigest()),
        ("issued_at", _aware(row.issued_at), doc.issued_at),
        ("next_update", _aware(row.next_update), doc.next_update),
    ):
        if stored != signed:
            raise AuditFailure(NOT_LEAF_BOUND, f"{label}: {column} stored {show(stored)}, signed {show(signed)}")


def _check_key(label: str, window: _Window, kid_hex: str, listed: KeyState) -> None:
    states = window.states.get(kid_hex)
    kid = kid_text(bytes.fromhex(kid_hex))  # as the trust list and the CLI write it
    when = window.issued_at.isoformat()
    if not states:
        raise AuditFailure(NOT_LEAF_BOUND, f"{label}: key {kid} is not in the registry the events give at {when}")
    if listed in states:
        return
    nearest = max(states, key=lambda s: sum(a == b for a, b in zip(s, listed, strict=True)))
    for column, mine, theirs in zip(KEY_COLUMNS, listed, nearest, strict=True):
        if mine != theirs:
            raise AuditFailure(
                NOT_LEAF_BOUND,
                f"{label}: key {kid} {column} listed {show(mine)}, registry at {when} (from the events) {show(theirs)}",
            )


__all__ = ["TrustListAudit"]
