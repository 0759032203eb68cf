"""Issuing licences (DESIGN §2): one or many, new (with the next serials) or imported (with their own identifiers).

One unit of work per call: the serial reservation, the new holders' wrapped keys, the events, their leaves, the read
models with the signed tokens and the idempotency record commit together or not at all.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from clock import Clock
from licences.catalogue import Catalogue, LicenceType
from licences.domain import IssueInput, Licence, check_issue
from licences.holder_keys import SqlHolderKeyVault
from licences.holdings import Holdings
from licences.idempotency import Idempotency, request_hash
from licences.privacy import HolderData, holder_digest
from licences.projector import Pending, Projector
from licences.queries import LicenceQueries
from licences.recording import Recording
from licences.serials import SerialReserver
from licences.store import LicenceStore
from licences.values import LicenceId, utc
from licences.views import LicenceView, iso

if TYPE_CHECKING:  # the read models' SQL stays in licences/store.py
    from sqlalchemy import Connection

Then = Callable[[int, Licence, LicenceType, datetime], None]


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


def issue_request_hash(request: IssueRequest) -> str:
    """The idempotency hash of an issue request."""
    return request_hash(
        [
            "issue",
            request.type_code,
            request.issuer,
            request.holder_id,
            request.holder_name,
            json.dumps(dict(request.fields), sort_keys=True, default=str),
            iso(request.valid_from),
            iso(request.valid_until),
            request.identifier,
        ]
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    licence_type: LicenceType
    digest_hex: str
    given: IssueInput  # every field checked, the holder number in canonical form


class Issuing:
    """The issue commands."""

    def __init__(
        self,
        *,
        recording: Recording,
        queries: LicenceQueries,
        projector: Projector,
        idempotency: Idempotency,
        serials: SerialReserver,
        vault: SqlHolderKeyVault,
        salt: bytes,
        clock: Clock,
    ) -> None:
        self.recording = recording
        self.queries = queries
        self.projector = projector
        self.idempotency = idempotency
        self.serials = serials
        self.vault = vault
        self.salt = salt
        self.clock = clock

    def issue(self, request: IssueRequest, idempotency_key: str | None = None) -> LicenceView:
        """Mint one licence; a retry with the same key returns the first result and writes nothing."""
        with self.recording.unit():
            replay = self.idempotency.replay(idempotency_key, issue_request_hash(request))
            if replay is not None:
                return self.queries.get(LicenceId(UUID(replay["licence_id"])))  # our stored result, from a `LicenceId`
            return self.issue_batch([request], idempotency_key=idempotency_key)[0]

    def issue_batch(
        self,
        requests: Sequence[IssueRequest],
        *,
        idempotency_key: str | None = None,
        then: Then | None = None,
        same_transaction: Callable[[Connection], None] | None = None,
    ) -> list[LicenceView]:
        """Issue or import many licences in one unit of work: all land or none (see `LicenceService.issue_batch`)."""
        with self.recording.unit():
            now = utc(self.clock())
            catalogue = self.queries.catalogue
            requests = [dataclasses.replace(r, issuer=catalogue.department(r.issuer).uscc) for r in requests]
            pending, fresh_keys = self._pending(requests, catalogue, now, then)

            def extra(conn: Connection) -> None:
                LicenceStore.insert_wrapped_holder_keys(conn, fresh_keys)
                if len(pending) == 1:  # the key names one licence: a batch has no single result to replay
                    result = {"licence_id": str(pending[0].licence.id)}
                    self.idempotency.remember(conn, idempotency_key, issue_request_hash(requests[0]), result)
                if same_transaction is not None:
                    same_transaction(conn)

            self.projector.commit(pending, extra)
            return [self.queries.view(p.row, catalogue) for p in pending if p.row is not None]

    def _pending(
        self, requests: Sequence[IssueRequest], catalogue: Catalogue, now: datetime, then: Then | None
    ) -> tuple[list[Pending], dict[str, bytes]]:
        """The new licences, not yet saved, and the new holders' wrapped keys to store with them."""
        prepared = [self._prepare(r, catalogue, now) for r in requests]
        keys, fresh_keys = self.vault.prepare_many(p.digest_hex for p in prepared)
        wanted = [
            None if r.identifier is not None else (p.licence_type.code, r.issuer)
            for r, p in zip(requests, prepared, strict=True)
        ]
        serials = self.serials.reserve(wanted, now)
        pending: list[Pending] = []
        holdings = Holdings(self.queries, now)
        holdings.prefetch(p.digest_hex for p in prepared)
        for request, p, serial in zip(requests, prepared, serials, strict=True):
            key = keys[p.digest_hex]
            licence = self._mint(request, p, key, serial, now, catalogue)
            if then is not None:
                then(len(pending), licence, p.licence_type, now)
            holdings.check(licence, p.licence_type, request.holder_name, key)  # after `then`: its recorded status
            pending.append(Pending(licence, list(licence.collect_events()), new=True, holder_key=key))
        return pending, fresh_keys

    def _prepare(self, request: IssueRequest, catalogue: Catalogue, now: datetime) -> _Prepared:
        licence_type = catalogue.licence_type(request.type_code)
        # Every field at once, before a serial or a holder key is reserved (the mint checks them again).
        holder = HolderData(request.holder_name, request.holder_id)
        given = check_issue(licence_type, holder, request.fields, request.valid_from or now, request.valid_until)
        return _Prepared(licence_type, holder_digest(self.salt, given.holder_id.value).hex(), given)

    def _mint(
        self,
        request: IssueRequest,
        prepared: _Prepared,
        holder_key: bytes,
        serial: str | None,
        now: datetime,
        catalogue: Catalogue,
    ) -> Licence:
        department = catalogue.department(request.issuer)
        common: dict[str, Any] = {
            "licence_type": prepared.licence_type,
            "issuer": department,
            "holder": HolderData(request.holder_name, prepared.given.holder_id.value),
            "holder_key": holder_key,
            "holder_salt": self.salt,
            "fields": request.fields,
            "valid_from": request.valid_from or now,
            "valid_until": request.valid_until,
            "now": now,
            "checked": prepared.given,  # the domain need not check every field a second time
        }
        if request.identifier is not None:
            return Licence.import_existing(identifier=request.identifier, **common)
        assert serial is not None
        return Licence.issue(serial=serial, **common)  # its identifier checks the serial's shape
