"""The licence library's application service: commands and queries over the ledger (DESIGN §2, §5).

`LicenceService` is a thin facade over named parts, each its own module:

- `licences.issuing` (issue, issue_batch) and `licences.commands` (renew … revoke, reminders, sealed documents,
  uses): every command is one unit of work — the new events, one Merkle leaf each, the read-model rows, the
  re-issued QR token and the idempotency record commit together or not at all;
- `licences.queries`: views, history and the holder's data, from the read models;
- `licences.projector`: `licence_index` and history rows from events and leaves, in the events' transaction;
- `licences.token_issuer`: the QR token, signed with the issuer's token key valid at the minting time;
- `licences.idempotency` (a retried command returns the first result and writes nothing; reusing a key for a
  different request is refused) and `licences.serials` (serial reservation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from clock import Clock
from ledger.ids import LeafIndex
from licences.catalogue import Catalogue, LicenceType
from licences.commands import LicenceCommands
from licences.domain import Licence
from licences.holder_keys import SqlHolderKeyVault
from licences.idempotency import IDEMPOTENCY_SCOPE, MAX_IDEMPOTENCY_KEY, Idempotency
from licences.issuing import IssueRequest, Issuing
from licences.privacy import HolderData
from licences.projector import Projector
from licences.queries import LicenceQueries
from licences.recording import Recording
from licences.registry import RegistryService
from licences.serials import SerialReserver
from licences.status_entries import StatusEntries
from licences.store import LicenceStore
from licences.values import LicenceId
from licences.views import HistoryEntry, LicenceView, UseResult

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

__all__ = [
    "IDEMPOTENCY_SCOPE",
    "MAX_IDEMPOTENCY_KEY",
    "HistoryEntry",
    "IssueRequest",
    "LicenceService",
    "LicenceView",
    "UseResult",
]


class LicenceService:
    """Commands and queries of the licence library for one region (a facade: see the module docstring)."""

    def __init__(
        self,
        *,
        recording: Recording,
        store: LicenceStore,
        registry: RegistryService,
        vault: SqlHolderKeyVault,
        salt: bytes,
        clock: Clock,
        origin: str,
        public_base_url: str,
        status: StatusEntries | None = None,
    ) -> None:
        self.recording = recording
        self.store = store
        self.registry = registry
        self.vault = vault
        self.salt = salt
        self.clock = clock
        self.origin = origin
        self.public_base_url = public_base_url
        self.queries = LicenceQueries(
            recording=recording,
            store=store,
            registry=registry,
            vault=vault,
            salt=salt,
            clock=clock,
            public_base_url=public_base_url,
        )
        self.projector = Projector(
            recording=recording, store=store, registry=registry, vault=vault, origin=origin, status=status
        )
        self.idempotency = Idempotency(store, salt)  # fingerprints keyed with the secret salt (ADR 0013)
        self.issuing = Issuing(
            recording=recording,
            queries=self.queries,
            projector=self.projector,
            idempotency=self.idempotency,
            serials=SerialReserver(store),
            vault=vault,
            salt=salt,
            clock=clock,
        )
        self.commands = LicenceCommands(
            recording=recording,
            queries=self.queries,
            projector=self.projector,
            idempotency=self.idempotency,
            vault=vault,
            clock=clock,
        )

    # -- queries ----------------------------------------------------------------------------------------------------

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue as published on the ledger."""
        return self.queries.catalogue

    def resolve(self, text: str) -> LicenceId:
        """A licence id from its UUID or any of its identifiers; `LicenceNotFoundError` otherwise."""
        return self.queries.resolve(text)

    def get(self, licence_id: LicenceId) -> LicenceView:
        """The licence's current view; `LicenceNotFoundError` if unknown."""
        return self.queries.get(licence_id)

    def find(self, text: str) -> LicenceView:
        """The current view of the licence with this UUID or identifier, in one read; `LicenceNotFoundError`."""
        return self.queries.find(text)

    def holder_digest_of(self, holder_id: str) -> str:
        """The salted digest that indexes a holder (the number itself is never stored in clear)."""
        return self.queries.holder_digest_of(holder_id)

    def by_holder(self, holder_id: str, limit: int = 1000) -> list[LicenceView]:
        """A holder's licences, newest first."""
        return self.queries.by_holder(holder_id, limit)

    def by_issuer(self, uscc: str, limit: int = 100, after: UUID | None = None) -> list[LicenceView]:
        """An issuer's licences, a keyset page in id order."""
        return self.queries.by_issuer(uscc, limit, after)

    def expiring_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[LicenceView]:
        """Licences whose validity ends in [start, end), soonest first."""
        return self.queries.expiring_between(start, end, limit)

    def history(self, licence_id: LicenceId) -> list[HistoryEntry]:
        """The licence's lifecycle events and uses, in leaf order, each with its leaf index."""
        return self.queries.history(licence_id)

    def holder(self, licence_id: LicenceId) -> HolderData:
        """Open the holder's sealed personal data (raises `HolderDataShreddedError` once shredded)."""
        return self.queries.holder(licence_id)

    def masked_holder_name(self, licence_id: LicenceId) -> str | None:
        """The holder's name masked for public pages (张*三), or None once the holder is shredded (one SELECT)."""
        return self.queries.masked_holder_name(licence_id)

    def shred_holder(self, holder_id: str) -> None:
        """Destroy a holder's key: personal data in every event becomes unreadable; every leaf still verifies.

        The same transaction clears the display name of the holder's licences (`LicenceStore.delete_holder_key`).
        """
        self.vault.shred(self.holder_digest_of(holder_id))

    def load(self, licence_id: LicenceId) -> Licence:
        """The `Licence` aggregate, replayed from its lifecycle stream (uses live elsewhere, so this stays fast)."""
        return self.queries.load(licence_id)

    # -- commands -------------------------------------------------------------------------------------------------

    def issue(
        self,
        *,
        type_code: str,
        issuer: str,
        holder_id: str,
        holder_name: str,
        fields: Mapping[str, object] | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Mint a new licence with the next serial of its type and issuer; returns it with its QR token."""
        request = IssueRequest(type_code, issuer, holder_id, holder_name, dict(fields or {}), valid_from, valid_until)
        return self.issuing.issue(request, idempotency_key)

    def issue_batch(
        self,
        requests: Sequence[IssueRequest],
        *,
        idempotency_key: str | None = None,
        then: Callable[[int, Licence, LicenceType, datetime], None] | None = None,
        same_transaction: Callable[[Connection], None] | None = None,
    ) -> list[LicenceView]:
        """Issue or import many licences in one transaction (bulk import, demo seed): all land or none.

        `then(i, licence, type, now)` may apply lifecycle commands to the i-th licence before it is saved (an imported
        licence that was suspended or revoked); `same_transaction(conn)` runs last inside the transaction.
        """
        return self.issuing.issue_batch(
            requests, idempotency_key=idempotency_key, then=then, same_transaction=same_transaction
        )

    def renew(
        self,
        licence_id: LicenceId,
        *,
        actor: str,
        valid_until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Renew within the renewal window: new validity period, version + 1, a new token."""
        return self.commands.renew(licence_id, actor=actor, valid_until=valid_until, idempotency_key=idempotency_key)

    def amend(
        self,
        licence_id: LicenceId,
        *,
        actor: str,
        changes: Mapping[str, object],
        holder_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Change registered particulars (version + 1, a new token); personal fields are re-sealed for the holder."""
        return self.commands.amend(
            licence_id, actor=actor, changes=changes, holder_name=holder_name, idempotency_key=idempotency_key
        )

    def suspend(
        self, licence_id: LicenceId, *, actor: str, reason: str, idempotency_key: str | None = None
    ) -> LicenceView:
        """Suspend (暂扣): the licence is not valid until reinstated."""
        return self.commands.suspend(licence_id, actor=actor, reason=reason, idempotency_key=idempotency_key)

    def reinstate(
        self, licence_id: LicenceId, *, actor: str, reason: str = "", idempotency_key: str | None = None
    ) -> LicenceView:
        """Lift a suspension."""
        return self.commands.reinstate(licence_id, actor=actor, reason=reason, idempotency_key=idempotency_key)

    def revoke(
        self,
        licence_id: LicenceId,
        *,
        actor: str,
        reason: str,
        kind: str = "voluntary",
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Revoke for good (注销 voluntary, 吊销 penalty)."""
        return self.commands.revoke(licence_id, actor=actor, reason=reason, kind=kind, idempotency_key=idempotency_key)

    def record_reminder(
        self, licence_id: LicenceId, stage: int, *, same_transaction: Callable[[Connection, int], None] | None = None
    ) -> LeafIndex:
        """Record `ExpiryReminderSent(stage)`; `same_transaction(conn, leaf)` runs in its transaction (the outbox)."""
        return self.commands.record_reminder(licence_id, stage, same_transaction=same_transaction)

    def record_sealed_document(self, licence_id: LicenceId, pdf_sha256: str) -> LeafIndex:
        """Record the SHA-256 of a sealed PDF of the current version (`DocumentSealed`); returns its leaf."""
        return self.commands.record_sealed_document(licence_id, pdf_sha256)

    def use(
        self,
        licence_id: LicenceId,
        *,
        verifier: str,
        matter_code: str,
        purpose: str,
        consent: str,
        claimed_holder_digest: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> UseResult:
        """Decide and record one use (`LicenceInvoked` in its own stream); a refused use is recorded too.

        The use's unit of work asks for a checkpoint, signed once for its whole batch before the commit (ADR 0014),
        so the answer can prove the use's own leaf without signing one afterwards in a transaction of its own.
        """
        with self.recording.unit():
            self.recording.want_checkpoint()
            return self.commands.use(
                licence_id,
                verifier=verifier,
                matter_code=matter_code,
                purpose=purpose,
                consent=consent,
                claimed_holder_digest=claimed_holder_digest,
                idempotency_key=idempotency_key,
            )
