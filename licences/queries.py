"""Queries of the licence library: views from the read models, history, and the holder's sealed data.

Everything here but `load` and `holder` reads the read models only (no replay); `masked_holder_name`, on the
citizen's scan, is one SELECT of `licence_index` for any row the projector wrote since display names exist.
"""

from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID

from clock import Clock
from licences.catalogue import Catalogue
from licences.domain import Licence
from licences.errors import LicenceNotFoundError
from licences.holder_keys import SqlHolderKeyVault
from licences.identifiers import HolderKind, mask_name, parse_holder_id
from licences.privacy import HolderData, holder_digest
from licences.recording import Recording
from licences.registry import RegistryService
from licences.store import LicenceRow, LicenceStore
from licences.values import LicenceId, utc
from licences.views import HistoryEntry, LicenceView, view_of


class LicenceQueries:
    """Read side of the licence library for one region."""

    def __init__(
        self,
        *,
        recording: Recording,
        store: LicenceStore,
        registry: RegistryService,
        vault: SqlHolderKeyVault,
        salt: bytes,
        clock: Clock,
        public_base_url: str,
    ) -> None:
        self.recording = recording
        self.store = store
        self.registry = registry
        self.vault = vault
        self.salt = salt
        self.clock = clock
        self.public_base_url = public_base_url

    @property
    def catalogue(self) -> Catalogue:
        """The catalogue as published on the ledger."""
        return self.registry.catalogue()

    def view(self, row: LicenceRow, catalogue: Catalogue | None = None) -> LicenceView:
        """The view of a read-model row at the clock's now."""
        return view_of(row, catalogue or self.catalogue, utc(self.clock()), self.public_base_url)

    def resolve(self, text: str) -> LicenceId:
        """A licence id from its UUID or any of its identifiers; `LicenceNotFoundError` otherwise."""
        value = text.strip()
        try:
            licence_id = LicenceId(UUID(value))  # checked to exist below
        except ValueError:
            found = self.store.licence_id_for_identifier(value)
            if found is None:
                raise LicenceNotFoundError(f"no licence with identifier {value!r}") from None
            return found
        if self.store.licence(licence_id) is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return licence_id

    def get(self, licence_id: LicenceId) -> LicenceView:
        """The licence's current view; `LicenceNotFoundError` if unknown."""
        row = self.store.licence(licence_id)
        if row is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return self.view(row)

    def find(self, text: str) -> LicenceView:
        """`get(resolve(text))` in one read: the current view of the licence with this UUID or identifier."""
        value = text.strip()
        try:
            licence_id = LicenceId(UUID(value))
        except ValueError:
            row = self.store.licence_by_identifier(value)
        else:
            return self.get(licence_id)
        if row is None:
            raise LicenceNotFoundError(f"no licence with identifier {value!r}")
        return self.view(row)

    def holder_digest_of(self, holder_id: str) -> str:
        """The salted digest that indexes a holder (the number itself is never stored in clear)."""
        parsed = parse_holder_id(holder_id, HolderKind.EITHER, "holder")
        return holder_digest(self.salt, parsed.value).hex()

    def by_holder(self, holder_id: str, limit: int = 1000) -> list[LicenceView]:
        """A holder's licences, newest first."""
        return [self.view(r) for r in self.store.by_holder(self.holder_digest_of(holder_id), limit)]

    def by_issuer(self, uscc: str, limit: int = 100, after: UUID | None = None) -> list[LicenceView]:
        """An issuer's licences, a keyset page in id order."""
        return [self.view(r) for r in self.store.by_issuer(uscc, limit, after)]

    def expiring_between(self, start: datetime, end: datetime, limit: int = 1000) -> list[LicenceView]:
        """Licences whose validity ends in [start, end), soonest first."""
        return [self.view(r) for r in self.store.expiring_between(utc(start, "start"), utc(end, "end"), limit)]

    def history(self, licence_id: LicenceId) -> list[HistoryEntry]:
        """The licence's lifecycle events and uses, in leaf order, each with its leaf index."""
        if self.store.licence(licence_id) is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return [
            HistoryEntry(h.leaf_index, h.kind, h.recorded_at, h.licence_version, h.topic, json.loads(h.state))
            for h in self.store.history(licence_id)
        ]

    def holder(self, licence_id: LicenceId) -> HolderData:
        """Open the holder's sealed personal data (raises `HolderDataShreddedError` once shredded)."""
        licence = self.load(licence_id)
        return licence.holder(self.vault.get(licence.holder_digest))

    def masked_holder_name(self, licence_id: LicenceId) -> str | None:
        """The holder's name masked for public pages (张*三), or None once the holder is shredded.

        Read from `licence_index.display_name` (one SELECT). A row without one is either a shredded holder's (its
        key is gone: None, no replay) or a row written before the column existed: then the old way, replay and
        decrypt. `LicenceNotFoundError` if unknown.
        """
        found = self.store.holder_display(licence_id)
        if found is None:
            raise LicenceNotFoundError(f"no licence {licence_id}")
        digest, display_name = found
        if display_name is not None:
            return mask_name(display_name)  # an organisation's is stored in full; a masked name is its own mask
        key = self.vault.get(digest)
        return None if key is None else mask_name(self.load(licence_id).holder(key).name)

    def load(self, licence_id: LicenceId) -> Licence:
        """The `Licence` aggregate, replayed from its lifecycle stream (uses live elsewhere, so this stays fast)."""
        aggregate = self.recording.load_aggregate(licence_id)
        if not isinstance(aggregate, Licence):
            raise LicenceNotFoundError(f"no licence {licence_id}")
        return aggregate
