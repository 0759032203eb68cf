"""Lifecycle commands and uses of a licence (DESIGN §2): each one unit of work, replayable by idempotency key.

A lifecycle command loads the licence inside the unit (under the log's writer), lets the aggregate decide, and
commits its events with the read models (`Projector.commit`); a use is decided the same way but recorded in its own
stream (`LicenceInvoked`), so the licence's lifecycle stream does not grow with its uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from clock import Clock
from ledger.ids import LeafIndex
from licences.catalogue import LicenceType
from licences.domain import Licence
from licences.errors import InvalidFieldError
from licences.holder_keys import SqlHolderKeyVault
from licences.idempotency import Idempotency, request_hash
from licences.invocation import Invocation, invocation_id_for
from licences.projector import Pending, Projector
from licences.queries import LicenceQueries
from licences.recording import Recording
from licences.values import FieldErrors, LicenceId, RevocationKind, plain_text, utc
from licences.views import LicenceView, UseResult, iso

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

Command = Callable[[Licence, LicenceType, datetime], None]
After = Callable[["Connection", int], None]


class LicenceCommands:
    """Renew, amend, suspend, reinstate, revoke, reminders, sealed documents and uses of existing licences."""

    def __init__(
        self,
        *,
        recording: Recording,
        queries: LicenceQueries,
        projector: Projector,
        idempotency: Idempotency,
        vault: SqlHolderKeyVault,
        clock: Clock,
    ) -> None:
        self.recording = recording
        self.queries = queries
        self.projector = projector
        self.idempotency = idempotency
        self.vault = vault
        self.clock = clock

    def renew(
        self,
        licence_id: LicenceId,
        *,
        actor: str,
        valid_until: datetime | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Renew within the renewal window: new validity period, version + 1, a new token."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.queries.catalogue.department(actor)
            licence.renew(licence_type=licence_type, actor=department, now=now, valid_until=valid_until)

        return self._lifecycle("renew", licence_id, command, idempotency_key, actor, iso(valid_until))

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

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            key = self.vault.get(licence.holder_digest)
            department = self.queries.catalogue.department(actor)
            licence.amend(
                licence_type=licence_type,
                actor=department,
                now=now,
                changes=changes,
                holder_key=key,
                holder_name=holder_name,
            )

        signature = json.dumps(dict(changes), sort_keys=True, default=str)
        return self._lifecycle("amend", licence_id, command, idempotency_key, actor, signature, holder_name)

    def suspend(
        self, licence_id: LicenceId, *, actor: str, reason: str, idempotency_key: str | None = None
    ) -> LicenceView:
        """Suspend (暂扣): the licence is not valid until reinstated."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.queries.catalogue.department(actor)
            licence.suspend(licence_type=licence_type, actor=department, now=now, reason=reason)

        return self._lifecycle("suspend", licence_id, command, idempotency_key, actor, reason)

    def reinstate(
        self, licence_id: LicenceId, *, actor: str, reason: str = "", idempotency_key: str | None = None
    ) -> LicenceView:
        """Lift a suspension."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.queries.catalogue.department(actor)
            licence.reinstate(licence_type=licence_type, actor=department, now=now, reason=reason)

        return self._lifecycle("reinstate", licence_id, command, idempotency_key, actor, reason)

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
        try:
            revocation = RevocationKind(kind)
        except ValueError:
            raise InvalidFieldError("kind", "must be 'voluntary' (注销) or 'penalty' (吊销)") from None

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.queries.catalogue.department(actor)
            licence.revoke(licence_type=licence_type, actor=department, now=now, reason=reason, kind=revocation)

        return self._lifecycle("revoke", licence_id, command, idempotency_key, actor, reason, kind)

    def record_reminder(self, licence_id: LicenceId, stage: int, *, same_transaction: After | None = None) -> LeafIndex:
        """Record `ExpiryReminderSent(stage)`; `same_transaction(conn, leaf)` runs in its transaction (the outbox)."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            licence.record_reminder(licence_type=licence_type, stage=stage, now=now)

        return self._apply(licence_id, command, after=same_transaction).last_leaf

    def record_sealed_document(self, licence_id: LicenceId, pdf_sha256: str) -> LeafIndex:
        """Record the SHA-256 of a sealed PDF of the current version (`DocumentSealed`); returns its leaf."""

        def command(licence: Licence, _: LicenceType, now: datetime) -> None:
            licence.record_sealed_document(pdf_sha256=pdf_sha256, now=now)

        return self._apply(licence_id, command).last_leaf

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
        """Decide and record one use (`LicenceInvoked` in its own stream); a refused use is recorded too."""
        errors = FieldErrors()
        for name, text in (("verifier", verifier), ("matter_code", matter_code), ("purpose", purpose)):
            errors.check(plain_text, text, name)
        errors.check(plain_text, consent, "consent")
        errors.raise_any()  # these texts land in the `LicenceInvoked` event as given
        facts = (verifier, matter_code, purpose, consent)
        request = request_hash([str(licence_id), *facts, (claimed_holder_digest or b"").hex()])
        with self.recording.unit():
            replay = self.idempotency.replay(idempotency_key, request)
            if replay is not None:
                return self._use_result(replay)
            licence = self.queries.load(licence_id)
            invocation = Invocation.record(
                licence=licence,
                now=utc(self.clock()),
                verifier=verifier,
                matter_code=matter_code,
                purpose=purpose,
                consent=consent,
                claimed_holder_digest=claimed_holder_digest,
                invocation_id=(
                    None
                    if idempotency_key is None
                    else invocation_id_for(licence_id, self.idempotency.use_key(idempotency_key))  # ADR 0013
                ),
            )
            return self._record_use(licence, invocation, request, idempotency_key)

    # -- internals ------------------------------------------------------------------------------------------------

    def _record_use(
        self, licence: Licence, invocation: Invocation, request: str, idempotency_key: str | None
    ) -> UseResult:
        result: dict[str, Any] = {
            "invocation_id": str(invocation.id),
            "licence_id": str(licence.id),
            "outcome": invocation.outcome.value,
            "refusal_reason": None if invocation.refusal_reason is None else invocation.refusal_reason.value,
        }

        def remember(conn: Connection, leaf: LeafIndex) -> None:
            result["leaf_index"] = leaf
            self.idempotency.remember(conn, idempotency_key, request, result)

        self.projector.commit_use(list(invocation.collect_events()), licence, remember)
        return self._use_result(result)

    def _use_result(self, stored: Mapping[str, Any]) -> UseResult:
        return UseResult(
            UUID(stored["invocation_id"]),
            stored["outcome"],
            stored["refusal_reason"],
            LeafIndex(int(stored["leaf_index"])),  # our own stored result: written from a `LeafIndex`
            self.queries.get(LicenceId(UUID(stored["licence_id"]))),  # likewise from a `LicenceId`
        )

    def _lifecycle(
        self, name: str, licence_id: LicenceId, command: Command, idempotency_key: str | None, *request: str | None
    ) -> LicenceView:
        """Apply a department's command once per idempotency key (`name` and the licence are part of the hash)."""
        request_id = request_hash([name, str(licence_id), *request])

        def remember(conn: Connection, _: int) -> None:
            self.idempotency.remember(conn, idempotency_key, request_id, {"licence_id": str(licence_id)})

        with self.recording.unit():
            if self.idempotency.replay(idempotency_key, request_id) is not None:
                return self.queries.get(licence_id)
            return self._apply(licence_id, command, after=remember)

    def _apply(self, licence_id: LicenceId, command: Command, *, after: After | None = None) -> LicenceView:
        """Load, decide and commit in one unit of work; `after(conn, leaf)` runs last in its transaction."""
        with self.recording.unit():
            licence = self.queries.load(licence_id)
            licence_type = self.queries.catalogue.licence_type(licence.type_code)
            command(licence, licence_type, utc(self.clock()))
            pending = Pending(licence, list(licence.collect_events()), new=False)

            def extra(conn: Connection) -> None:
                assert pending.row is not None
                if after is not None:
                    after(conn, pending.row.last_leaf)

            self.projector.commit([pending], extra)
            assert pending.row is not None
            return self.queries.view(pending.row)
