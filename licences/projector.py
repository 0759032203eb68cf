"""The licence read-model projector (ADR 0003): events and their leaves in, `licence_index` and history rows out.

`Projector.commit` appends a command's events and writes, in the same transaction, each licence's index row (with
its re-signed token when a version was minted) and one history row per event. The index row also carries what the
citizen's scan shows, so that scan replays nothing and decrypts nothing: the holder's name as public pages show it
(`display_name`: an organisation's in full, its name being public (公示); a person's masked), the minting time and the
token key's id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from ledger.ids import LeafIndex
from licences.domain import (
    DocumentSealed,
    ExpiryReminderSent,
    Licence,
    LicenceAmended,
    LicenceIssued,
    LicenceReinstated,
    LicenceRenewed,
    LicenceRevoked,
    LicenceSuspended,
)
from licences.errors import PrivacyError
from licences.holder_keys import SqlHolderKeyVault
from licences.identifiers import HolderKind, mask_name
from licences.invocation import LicenceInvoked
from licences.recording import Recording
from licences.registry import RegistryService
from licences.status_entries import StatusEntries
from licences.store import LicenceRow, LicenceStore
from licences.token_issuer import TokenIssuer
from licences.values import LicenceId, Uscc

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

KINDS: dict[type[Any], str] = {
    LicenceIssued: "issued",
    LicenceRenewed: "renewed",
    LicenceAmended: "amended",
    LicenceSuspended: "suspended",
    LicenceReinstated: "reinstated",
    LicenceRevoked: "revoked",
    ExpiryReminderSent: "reminder",
    DocumentSealed: "sealed",
    LicenceInvoked: "invoked",
}
MINTING = (LicenceIssued, LicenceRenewed, LicenceAmended)  # events after which the licence has a new token
HistoryRow = tuple[UUID, int, str, int]  # licence id, leaf index, kind, licence version


@dataclass
class Pending:
    """A licence and the events a command raised on it, waiting for their leaves; `row` is set once projected.

    `holder_key` is the holder's key when the command already has it (issuing), sparing a vault look-up.
    """

    licence: Licence
    events: list[DomainEventProtocol[Any]]
    new: bool
    holder_key: bytes | None = None
    row: LicenceRow | None = None


@dataclass(frozen=True, slots=True)
class _Minted:
    leaf: LeafIndex
    token: str
    at: datetime | None
    kid: str | None


class Projector:
    """Writes the licence read models in the same transaction as the events they reflect."""

    def __init__(
        self,
        *,
        recording: Recording,
        store: LicenceStore,
        registry: RegistryService,
        vault: SqlHolderKeyVault,
        origin: str,
        status: StatusEntries | None = None,
    ) -> None:
        self.status = status
        self.recording = recording
        self.store = store
        self.registry = registry
        self.vault = vault
        self.origin = origin

    def commit(self, pending: Sequence[Pending], extra: Callable[[Connection], None] | None = None) -> None:
        """Append every pending event and project them; `extra(conn)` runs last in the same transaction.

        Call inside the command's unit of work: the previous rows and the holder keys are read on its connection.
        """
        events = [e for p in pending for e in p.events]
        previous = {p.licence.id: self.store.licence(p.licence.id) for p in pending if not p.new}
        names = {p.licence.id: self.display_name(p, previous.get(p.licence.id)) for p in pending}
        tokens = TokenIssuer(self.registry, self.origin)

        def project(conn: Connection, leaves: Sequence[LeafIndex]) -> None:
            history: list[HistoryRow] = []
            offset = 0
            streams: list[tuple[str, Sequence[DomainEventProtocol[Any]], Sequence[LeafIndex]]] = []
            for p in pending:
                own = leaves[offset : offset + len(p.events)]
                streams.append((str(p.licence.id), p.events, own))
                offset += len(p.events)
                p.row = row_for(p, own, previous.get(p.licence.id), names[p.licence.id], tokens)
                if not p.new:
                    LicenceStore.put_licence(conn, p.row, new=False)
                history += history_rows(p, own)
            LicenceStore.put_new_licences(conn, [p.row for p in pending if p.new and p.row is not None])
            LicenceStore.add_history(conn, history)
            if self.status is not None:
                self.status.record(conn, streams, new_streams=frozenset(str(p.licence.id) for p in pending if p.new))
            if extra is not None:
                extra(conn)

        self.recording.save(events, project)

    def commit_use(
        self,
        events: Sequence[DomainEventProtocol[Any]],
        licence: Licence,
        extra: Callable[[Connection, LeafIndex], None] | None = None,
    ) -> LeafIndex:
        """Append a use's events (its own stream) and its history row on the licence; returns the use's leaf.

        `extra(conn, leaf)` runs last in the same transaction.
        """

        def project(conn: Connection, leaves: Sequence[LeafIndex]) -> None:
            LicenceStore.add_history(conn, [(licence.id, leaves[0], KINDS[LicenceInvoked], licence.licence_version)])
            if extra is not None:
                extra(conn, leaves[0])

        return self.recording.save(events, project)[0]

    def display_name(self, p: Pending, previous: LicenceRow | None) -> str | None:
        """The holder's name as public pages show it (`public_name`: an organisation's in full, a person's masked).

        Kept from the previous row unless an amendment may have re-sealed the holder data, the row has none (a row
        from before the column, or a shredded holder) or it holds an organisation's name masked by the rule before
        organisations were shown in full; None when the holder's key is gone or does not open the data.
        """
        renamed = any(isinstance(e, LicenceAmended) for e in p.events)
        if previous is not None and previous.display_name is not None and not renamed and not _stale(previous):
            return previous.display_name
        key = p.holder_key if p.holder_key is not None else self.vault.get(p.licence.holder_digest)
        if key is None:
            return None
        try:
            return public_name(p.licence.holder_kind, p.licence.holder(key).name)
        except PrivacyError:  # not this holder's key (re-created after a shred): the scan then takes the old path
            return None


def public_name(holder_kind: str, name: str) -> str:
    """A holder's name for public pages: an organisation's in full (company names are public, 公示), a person's
    masked by `mask_name` (张*三)."""
    return name if holder_kind == HolderKind.ORGANISATION.value else mask_name(name)


def _stale(row: LicenceRow) -> bool:
    """An organisation's display name written masked by the earlier rule (a masked name is its own mask)."""
    name = row.display_name
    return row.holder_kind == HolderKind.ORGANISATION.value and name is not None and mask_name(name) == name


def row_for(
    p: Pending, leaves: Sequence[LeafIndex], previous: LicenceRow | None, display_name: str | None, tokens: TokenIssuer
) -> LicenceRow:
    """The licence's index row after `p.events` landed at `leaves` (a new token if a version was minted)."""
    licence = p.licence
    minted = _minted(p, leaves, previous, tokens)
    return LicenceRow(
        licence_id=LicenceId(licence.id),  # the aggregate's id, minted by `licence_id_for`
        identifier=str(licence.identifier),
        type_code=licence.type_code,
        issuer=Uscc(licence.issuer),  # parsed (GB 32100) when the licence was minted
        holder_digest=licence.holder_digest,
        holder_kind=licence.holder_kind,
        lifecycle=licence.lifecycle.value,
        licence_version=licence.licence_version,
        valid_from=licence.valid_from,
        valid_until=licence.valid_until,
        reminded_stage=_reminded_stage(p.events, previous),
        minted_leaf=minted.leaf,
        last_leaf=leaves[-1],
        aggregate_version=licence.version,
        fields=dict(licence.fields),
        token=minted.token,
        imported=licence.imported,
        identifier_check_ok=licence.identifier.check_ok,
        display_name=display_name,
        minted_at=minted.at,
        token_kid=minted.kid,
    )


def history_rows(p: Pending, leaves: Sequence[LeafIndex]) -> list[HistoryRow]:
    """One history row per event of `p`, at its leaf."""
    return [
        (p.licence.id, leaf, KINDS[type(e)], int(getattr(e, "licence_version", p.licence.licence_version)))
        for e, leaf in zip(p.events, leaves, strict=True)
    ]


def _minted(p: Pending, leaves: Sequence[LeafIndex], previous: LicenceRow | None, tokens: TokenIssuer) -> _Minted:
    minting = [(e, leaf) for e, leaf in zip(p.events, leaves, strict=True) if isinstance(e, MINTING)]
    if minting:
        event, leaf = minting[-1]
        token = tokens.mint(p.licence, leaf)
        return _Minted(leaf, token.token, event.timestamp, token.kid)
    assert previous is not None  # a new licence always starts with a minting event
    return _Minted(previous.minted_leaf, previous.token, previous.minted_at, previous.token_kid)


def _reminded_stage(events: Sequence[DomainEventProtocol[Any]], previous: LicenceRow | None) -> int | None:
    """The tightest reminder stage sent in the current validity period (a renewal starts a new one)."""
    reminded = None if previous is None else previous.reminded_stage
    for e in events:
        if isinstance(e, ExpiryReminderSent):
            reminded = e.stage if reminded is None else min(reminded, e.stage)
        elif isinstance(e, LicenceRenewed):
            reminded = None
    return reminded
