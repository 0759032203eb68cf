"""The licence library's application service: commands and queries over the ledger (DESIGN §2, §5).

Every command is one transaction: the new events, one Merkle leaf each, the read-model rows, the re-issued QR token
and the idempotency record commit together or not at all. An idempotency key makes a retried command return the first
result and write nothing new; reusing a key for a different request is refused.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from ledger.persistence import Clock
from licences.catalogue import Catalogue, LicenceType
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
from licences.errors import (
    IdempotencyConflictError,
    InvalidFieldError,
    LicenceNotFoundError,
)
from licences.holder_keys import SqlHolderKeyVault
from licences.identifiers import HolderKind, make_identifier, mask_name, parse_holder_id
from licences.invocation import Invocation, LicenceInvoked, invocation_id_for
from licences.privacy import HolderData, holder_digest
from licences.recording import Recording
from licences.registry import RegistryService
from licences.reminders import CHINA_TIME
from licences.store import LicenceRow, LicenceStore
from licences.values import LicenceStatus, RevocationKind, utc
from signatures.cose import LicenceClaims, b64url_encode, sign_token, token_url

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

MAX_IDEMPOTENCY_KEY = 128
IDEMPOTENCY_SCOPE = "licences"  # one key space for every licence command: reuse across commands is refused
_KINDS: dict[type[Any], str] = {
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
_MINTING = (LicenceIssued, LicenceRenewed, LicenceAmended)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class LicenceView:
    """A licence as verifiers and departments see it: public fields, status at the clock's now, current token."""

    id: UUID
    identifier: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    issuer: str
    issuer_name: str
    holder_kind: str
    holder_digest: str
    status: LicenceStatus
    lifecycle: str
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    fields: dict[str, Any]
    minted_leaf: int
    last_leaf: int
    token: str
    qr_url: str
    reminded_stage: int | None = None
    imported: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON form used by the CLI and the API (`leaf_index` is the leaf that minted this version)."""
        return {
            "id": str(self.id),
            "identifier": self.identifier,
            "type_code": self.type_code,
            "type_name_zh": self.type_name_zh,
            "type_name_en": self.type_name_en,
            "issuer": self.issuer,
            "issuer_name": self.issuer_name,
            "holder_kind": self.holder_kind,
            "holder_digest": self.holder_digest,
            "status": self.status.value,
            "lifecycle": self.lifecycle,
            "licence_version": self.licence_version,
            "valid_from": _iso(self.valid_from),
            "valid_until": _iso(self.valid_until),
            "fields": self.fields,
            "leaf_index": self.minted_leaf,
            "last_leaf": self.last_leaf,
            "token": self.token,
            "qr_url": self.qr_url,
            "reminded_stage": self.reminded_stage,
            "imported": self.imported,
        }


@dataclass(frozen=True)
class UseResult:
    """The recorded outcome of one use of a licence."""

    invocation_id: UUID
    outcome: str
    refusal_reason: str | None
    leaf_index: int
    licence: LicenceView

    def to_json(self) -> dict[str, Any]:
        """JSON form: the verdict, the use's leaf, and the licence as seen."""
        return {
            "invocation_id": str(self.invocation_id),
            "outcome": self.outcome,
            "refusal_reason": self.refusal_reason,
            "leaf_index": self.leaf_index,
            "licence": self.licence.to_json(),
        }


@dataclass(frozen=True)
class HistoryEntry:
    """One event in a licence's history, with its leaf index; personal data stays sealed in `event`."""

    leaf_index: int
    kind: str
    recorded_at: str
    licence_version: int
    topic: str
    event: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "leaf_index": self.leaf_index,
            "kind": self.kind,
            "recorded_at": self.recorded_at,
            "licence_version": self.licence_version,
            "topic": self.topic,
            "event": self.event,
        }


@dataclass(frozen=True)
class IssueRequest:
    """One licence to issue (or, with `identifier`, an existing licence to import)."""

    type_code: str
    issuer: str
    holder_id: str
    holder_name: str
    fields: Mapping[str, object] = field(default_factory=dict)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    identifier: str | None = None


@dataclass
class _Pending:
    licence: Licence
    events: list[DomainEventProtocol[Any]]
    new: bool
    row: LicenceRow | None = None


class LicenceService:
    """Commands and queries of the licence library for one region."""

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
    ) -> None:
        self.recording = recording
        self.store = store
        self.registry = registry
        self.vault = vault
        self.salt = salt
        self.clock = clock
        self.origin = origin
        self.public_base_url = public_base_url

    # -- queries ----------------------------------------------------------------------------------------------------

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue as published on the ledger."""
        return self.registry.catalogue()

    def resolve(self, text: str) -> UUID:
        """A licence id from its UUID or any of its identifiers; `LicenceNotFoundError` otherwise."""
        value = text.strip()
        try:
            licence_id = UUID(value)
        except ValueError:
            found = self.store.licence_id_for_identifier(value)
            if found is None:
                raise LicenceNotFoundError(f"no licence with identifier {value!r}") from None
            return found
        if self.store.licence(licence_id) is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return licence_id

    def get(self, licence_id: UUID) -> LicenceView:
        """The licence's current view; `LicenceNotFoundError` if unknown."""
        row = self.store.licence(licence_id)
        if row is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return self._view(row)

    def holder_digest_of(self, holder_id: str) -> str:
        """The salted digest that indexes a holder (the number itself is never stored in clear)."""
        parsed = parse_holder_id(holder_id, HolderKind.EITHER, "holder")
        return holder_digest(self.salt, parsed.value).hex()

    def by_holder(self, holder_id: str, limit: int = 1000) -> list[LicenceView]:
        """A holder's licences, newest first."""
        return [self._view(r) for r in self.store.by_holder(self.holder_digest_of(holder_id), limit)]

    def by_issuer(self, uscc: str, limit: int = 100, after: UUID | None = None) -> list[LicenceView]:
        """An issuer's licences, a keyset page in id order."""
        return [self._view(r) for r in self.store.by_issuer(uscc, limit, after)]

    def expiring_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[LicenceView]:
        """Licences whose validity ends in [start, end), soonest first."""
        return [self._view(r) for r in self.store.expiring_between(utc(start, "start"), utc(end, "end"), limit)]

    def history(self, licence_id: UUID) -> list[HistoryEntry]:
        """The licence's lifecycle events and uses, in leaf order, each with its leaf index."""
        if self.store.licence(licence_id) is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return [
            HistoryEntry(h.leaf_index, h.kind, h.recorded_at, h.licence_version, h.topic, json.loads(h.state))
            for h in self.store.history(licence_id)
        ]

    def holder(self, licence_id: UUID) -> HolderData:
        """Open the holder's sealed personal data (raises `HolderDataShreddedError` once shredded)."""
        licence = self._load(licence_id)
        return licence.holder(self.vault.get(licence.holder_digest))

    def masked_holder_name(self, licence_id: UUID) -> str | None:
        """The holder's name masked for public pages (张*三), or None once the holder is shredded."""
        licence = self._load(licence_id)
        key = self.vault.get(licence.holder_digest)
        return None if key is None else mask_name(licence.holder(key).name)

    def shred_holder(self, holder_id: str) -> None:
        """Destroy a holder's key: personal data in every event becomes unreadable; every leaf still verifies."""
        self.vault.shred(self.holder_digest_of(holder_id))

    def load(self, licence_id: UUID) -> Licence:
        """The `Licence` aggregate, replayed from its lifecycle stream (uses live elsewhere, so this stays fast)."""
        return self._load(licence_id)

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
        with self.recording.unit():
            replay = self._replay(IDEMPOTENCY_SCOPE, idempotency_key, _request_hash(request))
            if replay is not None:
                return self.get(UUID(replay["licence_id"]))
            return self.issue_batch([request], idempotency_key=idempotency_key)[0]

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
        with self.recording.unit():
            return self._issue_batch(requests, idempotency_key, then, same_transaction)

    def _issue_batch(
        self,
        requests: Sequence[IssueRequest],
        idempotency_key: str | None,
        then: Callable[[int, Licence, LicenceType, datetime], None] | None,
        same_transaction: Callable[[Connection], None] | None,
    ) -> list[LicenceView]:
        now = utc(self.clock())
        catalogue = self.catalogue
        requests = [dataclasses.replace(r, issuer=catalogue.department(r.issuer).uscc) for r in requests]
        prepared = [self._prepare(r, catalogue, now) for r in requests]
        keys, fresh_keys = self.vault.prepare_many(p[1] for p in prepared)
        serials = self._serials([(r, p[0]) for r, p in zip(requests, prepared, strict=True)], now)
        pending: list[_Pending] = []
        for request, (licence_type, digest_hex, canonical_id), serial in zip(requests, prepared, serials, strict=True):
            licence = self._mint(request, licence_type, keys[digest_hex], canonical_id, serial, now, catalogue)
            if then is not None:
                then(len(pending), licence, licence_type, now)
            pending.append(_Pending(licence, list(licence.collect_events()), new=True))

        def extra(conn: Connection) -> None:
            LicenceStore.insert_wrapped_holder_keys(conn, fresh_keys)
            if idempotency_key is not None and len(pending) == 1:
                result = {"licence_id": str(pending[0].licence.id)}
                LicenceStore.put_idempotent_result(
                    conn, IDEMPOTENCY_SCOPE, idempotency_key, _request_hash(requests[0]), result
                )
            if same_transaction is not None:
                same_transaction(conn)

        self._commit(pending, extra)
        return [self._view(p.row, catalogue) for p in pending if p.row is not None]

    def renew(
        self, licence_id: UUID, *, actor: str, valid_until: datetime | None = None, idempotency_key: str | None = None
    ) -> LicenceView:
        """Renew within the renewal window: new validity period, version + 1, a new token."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.catalogue.department(actor)
            licence.renew(licence_type=licence_type, actor=department, now=now, valid_until=valid_until)

        return self._lifecycle("renew", licence_id, command, idempotency_key, actor, _iso(valid_until))

    def amend(
        self,
        licence_id: UUID,
        *,
        actor: str,
        changes: Mapping[str, object],
        holder_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> LicenceView:
        """Change registered particulars (version + 1, a new token); personal fields are re-sealed for the holder."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            key = self.vault.get(licence.holder_digest)
            department = self.catalogue.department(actor)
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

    def suspend(self, licence_id: UUID, *, actor: str, reason: str, idempotency_key: str | None = None) -> LicenceView:
        """Suspend (暂扣): the licence is not valid until reinstated."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            licence.suspend(licence_type=licence_type, actor=self.catalogue.department(actor), now=now, reason=reason)

        return self._lifecycle("suspend", licence_id, command, idempotency_key, actor, reason)

    def reinstate(
        self, licence_id: UUID, *, actor: str, reason: str = "", idempotency_key: str | None = None
    ) -> LicenceView:
        """Lift a suspension."""

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            department = self.catalogue.department(actor)
            licence.reinstate(licence_type=licence_type, actor=department, now=now, reason=reason)

        return self._lifecycle("reinstate", licence_id, command, idempotency_key, actor, reason)

    def revoke(
        self,
        licence_id: UUID,
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
            department = self.catalogue.department(actor)
            licence.revoke(licence_type=licence_type, actor=department, now=now, reason=reason, kind=revocation)

        return self._lifecycle("revoke", licence_id, command, idempotency_key, actor, reason, kind)

    def record_reminder(
        self,
        licence_id: UUID,
        stage: int,
        *,
        same_transaction: Callable[[Connection, int], None] | None = None,
    ) -> int:
        """Record `ExpiryReminderSent(stage)`; `same_transaction(conn, leaf)` runs in its transaction (the outbox)."""
        leaves: list[int] = []

        def command(licence: Licence, licence_type: LicenceType, now: datetime) -> None:
            licence.record_reminder(licence_type=licence_type, stage=stage, now=now)

        self._apply(licence_id, command, after=same_transaction, leaves=leaves)
        return leaves[-1]

    def record_sealed_document(self, licence_id: UUID, pdf_sha256: str) -> int:
        """Record the SHA-256 of a sealed PDF of the current version (`DocumentSealed`); returns its leaf."""
        leaves: list[int] = []

        def command(licence: Licence, _: LicenceType, now: datetime) -> None:
            licence.record_sealed_document(pdf_sha256=pdf_sha256, now=now)

        self._apply(licence_id, command, leaves=leaves)
        return leaves[-1]

    def use(
        self,
        licence_id: UUID,
        *,
        verifier: str,
        matter_code: str,
        purpose: str,
        consent: str,
        claimed_holder_digest: bytes | None = None,
        idempotency_key: str | None = None,
    ) -> UseResult:
        """Decide and record one use (`LicenceInvoked` in its own stream); a refused use is recorded too."""
        request_hash = _hash(
            [str(licence_id), verifier, matter_code, purpose, consent, (claimed_holder_digest or b"").hex()]
        )
        with self.recording.unit():
            replay = self._replay(IDEMPOTENCY_SCOPE, idempotency_key, request_hash)
            if replay is not None:
                return self._use_result(replay)
            facts = (verifier, matter_code, purpose, consent)
            return self._record_use(licence_id, request_hash, *facts, claimed_holder_digest, idempotency_key)

    def _record_use(
        self,
        licence_id: UUID,
        request_hash: str,
        verifier: str,
        matter_code: str,
        purpose: str,
        consent: str,
        claimed_holder_digest: bytes | None,
        idempotency_key: str | None,
    ) -> UseResult:
        scope = IDEMPOTENCY_SCOPE
        licence = self._load(licence_id)
        invocation = Invocation.record(
            licence=licence,
            now=utc(self.clock()),
            verifier=verifier,
            matter_code=matter_code,
            purpose=purpose,
            consent=consent,
            claimed_holder_digest=claimed_holder_digest,
            invocation_id=None if idempotency_key is None else invocation_id_for(licence_id, idempotency_key),
        )
        events = list(invocation.collect_events())
        result: dict[str, Any] = {
            "invocation_id": str(invocation.id),
            "licence_id": str(licence_id),
            "outcome": invocation.outcome.value,
            "refusal_reason": None if invocation.refusal_reason is None else invocation.refusal_reason.value,
        }

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            LicenceStore.add_history(conn, [(licence_id, leaves[0], "invoked", licence.licence_version)])
            result["leaf_index"] = leaves[0]
            if idempotency_key is not None:
                LicenceStore.put_idempotent_result(conn, scope, idempotency_key, request_hash, result)

        self.recording.save(events, project)
        return self._use_result(result)

    # -- internals ------------------------------------------------------------------------------------------------

    def _use_result(self, stored: Mapping[str, Any]) -> UseResult:
        licence_id = UUID(stored["licence_id"])
        return UseResult(
            UUID(stored["invocation_id"]),
            stored["outcome"],
            stored["refusal_reason"],
            int(stored["leaf_index"]),
            self.get(licence_id),
        )

    def _replay(self, scope: str, key: str | None, request_hash: str) -> dict[str, Any] | None:
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise InvalidFieldError("idempotency_key", f"must be 1-{MAX_IDEMPOTENCY_KEY} printable characters")
        found = self.store.idempotent_result(scope, key)
        if found is None:
            return None
        if found[0] != request_hash:
            raise IdempotencyConflictError(f"idempotency key {key!r} was already used for a different request")
        return found[1]

    def _prepare(self, request: IssueRequest, catalogue: Catalogue, now: datetime) -> tuple[LicenceType, str, str]:
        licence_type = catalogue.licence_type(request.type_code)
        holder = parse_holder_id(request.holder_id, licence_type.holder_kind)
        return licence_type, holder_digest(self.salt, holder.value).hex(), holder.value

    def _serials(self, items: Sequence[tuple[IssueRequest, LicenceType]], now: datetime) -> list[str | None]:
        wanted: dict[tuple[str, str, int], int] = {}
        year = now.astimezone(CHINA_TIME).year  # the year in China: at 02:00 on 1 January there, UTC is in December
        for request, licence_type in items:
            if request.identifier is None:
                key = (licence_type.code, request.issuer, year)
                wanted[key] = wanted.get(key, 0) + 1
        next_free = {key: self.store.reserve_serials(*key, count) for key, count in wanted.items()}
        serials: list[str | None] = []
        for request, licence_type in items:
            if request.identifier is not None:
                serials.append(None)
                continue
            key = (licence_type.code, request.issuer, year)
            serials.append(f"{year}{next_free[key]:07d}")
            next_free[key] += 1
        return serials

    def _mint(
        self,
        request: IssueRequest,
        licence_type: LicenceType,
        holder_key: bytes,
        holder_id: str,
        serial: str | None,
        now: datetime,
        catalogue: Catalogue | None = None,
    ) -> Licence:
        department = (catalogue or self.catalogue).department(request.issuer)
        holder = HolderData(request.holder_name, holder_id)
        common: dict[str, Any] = {
            "licence_type": licence_type,
            "issuer": department,
            "holder": holder,
            "holder_key": holder_key,
            "holder_salt": self.salt,
            "fields": request.fields,
            "valid_from": request.valid_from or now,
            "valid_until": request.valid_until,
            "now": now,
        }
        if request.identifier is not None:
            return Licence.import_existing(identifier=request.identifier, **common)
        assert serial is not None
        make_identifier(licence_type.code, department.uscc, serial, 1)  # validates the serial shape
        return Licence.issue(serial=serial, **common)

    def _load(self, licence_id: UUID) -> Licence:
        aggregate = self.recording.load_aggregate(licence_id)
        if not isinstance(aggregate, Licence):
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return aggregate

    def _lifecycle(
        self,
        scope: str,
        licence_id: UUID,
        command: Callable[[Licence, LicenceType, datetime], None],
        idempotency_key: str | None,
        *request: str | None,
    ) -> LicenceView:
        request_hash = _hash([scope, str(licence_id), *request])
        full_scope = IDEMPOTENCY_SCOPE

        def remember(conn: Connection, _: int) -> None:
            if idempotency_key is not None:
                result = {"licence_id": str(licence_id)}
                LicenceStore.put_idempotent_result(conn, full_scope, idempotency_key, request_hash, result)

        with self.recording.unit():
            if self._replay(full_scope, idempotency_key, request_hash) is not None:
                return self.get(licence_id)
            return self._apply(licence_id, command, after=remember)

    def _apply(
        self,
        licence_id: UUID,
        command: Callable[[Licence, LicenceType, datetime], None],
        *,
        after: Callable[[Connection, int], None] | None = None,
        leaves: list[int] | None = None,
    ) -> LicenceView:
        with self.recording.unit():
            return self._apply_in_unit(licence_id, command, after, leaves)

    def _apply_in_unit(
        self,
        licence_id: UUID,
        command: Callable[[Licence, LicenceType, datetime], None],
        after: Callable[[Connection, int], None] | None,
        leaves: list[int] | None,
    ) -> LicenceView:
        licence = self._load(licence_id)
        licence_type = self.catalogue.licence_type(licence.type_code)
        command(licence, licence_type, utc(self.clock()))
        pending = _Pending(licence, list(licence.collect_events()), new=False)

        def extra(conn: Connection) -> None:
            assert pending.row is not None
            if leaves is not None:
                leaves.append(pending.row.last_leaf)
            if after is not None:
                after(conn, pending.row.last_leaf)

        self._commit([pending], extra)
        assert pending.row is not None
        return self._view(pending.row)

    def _commit(self, pending: Sequence[_Pending], extra: Callable[[Connection], None] | None) -> None:
        events = [e for p in pending for e in p.events]
        previous = {p.licence.id: self.store.licence(p.licence.id) for p in pending if not p.new}

        signers: dict[str, Any] = {}

        def project(conn: Connection, leaves: Sequence[int]) -> None:
            offset = 0
            history: list[tuple[UUID, int, str, int]] = []
            new_rows = []
            for p in pending:
                own = leaves[offset : offset + len(p.events)]
                offset += len(p.events)
                p.row = self._row(p, own, previous.get(p.licence.id), signers)
                if p.new:
                    new_rows.append(p.row)
                else:
                    LicenceStore.put_licence(conn, p.row, new=p.new)
                history += [
                    (p.licence.id, leaf, _KINDS[type(e)], _version_of(e, p.licence))
                    for e, leaf in zip(p.events, own, strict=True)
                ]
            LicenceStore.put_new_licences(conn, new_rows)
            LicenceStore.add_history(conn, history)
            if extra is not None:
                extra(conn)

        self.recording.save(events, project)

    def _row(
        self, p: _Pending, leaves: Sequence[int], previous: LicenceRow | None, signers: dict[str, Any]
    ) -> LicenceRow:
        licence = p.licence
        minted = [leaf for e, leaf in zip(p.events, leaves, strict=True) if isinstance(e, _MINTING)]
        reminded = None if previous is None else previous.reminded_stage
        for e in p.events:
            if isinstance(e, ExpiryReminderSent):
                reminded = e.stage if reminded is None else min(reminded, e.stage)
            elif isinstance(e, LicenceRenewed):
                reminded = None
        if minted:
            minted_leaf = minted[-1]
            token = b64url_encode(self._token(licence, minted_leaf, signers))
        else:
            assert previous is not None
            minted_leaf, token = previous.minted_leaf, previous.token
        return LicenceRow(
            licence_id=licence.id,
            identifier=str(licence.identifier),
            type_code=licence.type_code,
            issuer=licence.issuer,
            holder_digest=licence.holder_digest,
            holder_kind=licence.holder_kind,
            lifecycle=licence.lifecycle.value,
            licence_version=licence.licence_version,
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            reminded_stage=reminded,
            minted_leaf=minted_leaf,
            last_leaf=leaves[-1],
            aggregate_version=licence.version,
            fields=dict(licence.fields),
            token=token,
            imported=licence.imported,
            identifier_check_ok=licence.identifier.check_ok,
        )

    def _token(self, licence: Licence, minted_leaf: int, signers: dict[Any, Any]) -> bytes:
        """The QR token of the licence's current version (DESIGN §6), signed by the issuer's current token key."""
        signed_at = licence.modified_on
        key = (licence.issuer, signed_at)
        if key not in signers:
            signers[key] = self.registry.token_signer(licence.issuer, signed_at)[1]
        signer = signers[key]
        claims = LicenceClaims(
            issuer=licence.issuer,
            subject=str(licence.identifier),
            issued_at=int(signed_at.timestamp()),
            not_before=int(licence.valid_from.timestamp()),
            expires_at=None if licence.valid_until is None else int(licence.valid_until.timestamp()),
            licence_type=licence.type_code,
            version=licence.licence_version,
            holder_digest=bytes.fromhex(licence.holder_digest),
            leaf_index=minted_leaf,
            log_origin=self.origin,
        )
        return sign_token(claims, signer)

    def _view(self, row: LicenceRow, catalogue: Catalogue | None = None) -> LicenceView:
        catalogue = catalogue or self.catalogue
        licence_type = catalogue.licence_type(row.type_code)
        department = catalogue.department(row.issuer)
        return LicenceView(
            id=row.licence_id,
            identifier=row.identifier,
            type_code=row.type_code,
            type_name_zh=licence_type.name_zh,
            type_name_en=licence_type.name_en,
            issuer=row.issuer,
            issuer_name=department.name_zh,
            holder_kind=row.holder_kind,
            holder_digest=row.holder_digest,
            status=_status(row, utc(self.clock())),
            lifecycle=row.lifecycle,
            licence_version=row.licence_version,
            valid_from=row.valid_from,
            valid_until=row.valid_until,
            fields=row.fields,
            minted_leaf=row.minted_leaf,
            last_leaf=row.last_leaf,
            token=row.token,
            qr_url=token_url(self.public_base_url, _b64url_decode(row.token)),
            reminded_stage=row.reminded_stage,
            imported=row.imported,
        )


def _status(row: LicenceRow, now: datetime) -> LicenceStatus:
    """The same rule as `Licence.status_at`, on the read model (no replay)."""
    if row.lifecycle == "revoked":
        return LicenceStatus.REVOKED
    if row.lifecycle == "suspended":
        return LicenceStatus.SUSPENDED
    if now < row.valid_from:
        return LicenceStatus.NOT_YET_VALID
    if row.valid_until is not None and now >= row.valid_until:
        return LicenceStatus.EXPIRED
    return LicenceStatus.VALID


def _version_of(event: Any, licence: Licence) -> int:
    return int(getattr(event, "licence_version", licence.licence_version))


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hash(parts: Sequence[object]) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts], ensure_ascii=False).encode()).hexdigest()


def _request_hash(request: IssueRequest) -> str:
    return _hash(
        [
            "issue",
            request.type_code,
            request.issuer,
            request.holder_id,
            request.holder_name,
            json.dumps(dict(request.fields), sort_keys=True, default=str),
            _iso(request.valid_from),
            _iso(request.valid_until),
            request.identifier,
        ]
    )
