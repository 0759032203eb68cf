"""What a holder already holds, checked when a licence is issued or imported (the register side of holder checks).

Two rules need the register rather than the request (the pure ones are in `licences.holder_checks`):

- one active licence per holder for a type marked `one_per_holder` in the catalogue (a driving licence, a practice
  registration, a marriage certificate): a second one is refused with `HolderAlreadyHoldsError`, naming the licence
  already held. Active means not revoked and not expired at `now` (a suspended or not-yet-valid licence is still
  held); an expired one is issued anew, so it does not count. A batch counts its own earlier licences too, and an
  imported licence is judged with its recorded status (a revoked historic licence does not block the current one);
- the same holder number under another name: a new licence whose holder name differs from the name on the holder's
  active licences of the same type is refused (`InvalidFieldError` on `holder_name`): a change of name (改名) is an
  amendment of the licences already held, not a new holder.

Not proof against two concurrent issues for the same holder racing each other: each checks the committed register.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from licences.catalogue import LicenceType
from licences.domain import Licence
from licences.errors import HolderAlreadyHoldsError, HolderDataShreddedError, InvalidFieldError
from licences.queries import LicenceQueries
from licences.store import LicenceRow
from licences.values import LicenceStatus, Lifecycle

_HELD = (LicenceStatus.VALID, LicenceStatus.SUSPENDED, LicenceStatus.NOT_YET_VALID)


@dataclass
class Holdings:
    """Checks each new licence of one unit of work against the register and the batch's earlier licences."""

    queries: LicenceQueries
    now: datetime
    _held: dict[tuple[str, str], list[tuple[str, str]]] = field(default_factory=dict)
    _register: dict[str, list[LicenceRow]] = field(default_factory=dict)

    def prefetch(self, holder_digests: Iterable[str]) -> None:
        """Read the register of every holder of a batch at once (a query per 500 holders, not one per licence)."""
        self._register.update(self.queries.store.by_holders(list(holder_digests)))

    def check(self, licence: Licence, licence_type: LicenceType, holder_name: str, holder_key: bytes) -> None:
        """Refuse `licence` (not yet saved) if its holder already holds what the rules above forbid."""
        if licence.status_at(self.now) not in _HELD:
            return
        key = (licence.holder_digest, licence_type.code)
        if key not in self._held:  # the register is read once per holder and type in a unit of work
            self._held[key] = self._active_in_register(licence.holder_digest, licence_type, holder_key)
        held = self._held[key]
        for identifier, name in held:
            if licence_type.one_per_holder:
                raise HolderAlreadyHoldsError(licence_type.name_zh, identifier)
            if name and name != holder_name.strip():
                msg = f"the holder's active {licence_type.name_zh} {identifier} is in another name; amend that first"
                raise InvalidFieldError("holder_name", msg)
        held.append((str(licence.identifier), holder_name.strip()))

    def _active_in_register(self, digest: str, licence_type: LicenceType, holder_key: bytes) -> list[tuple[str, str]]:
        known = self._register.get(digest)
        register = self.queries.store.by_holder(digest) if known is None else known
        rows = [r for r in register if r.type_code == licence_type.code]
        return [(r.identifier, self._name(r, holder_key)) for r in rows if self._active(r)]

    def _active(self, row: LicenceRow) -> bool:
        if row.lifecycle == Lifecycle.REVOKED.value:
            return False
        return row.valid_until is None or self.now < row.valid_until

    def _name(self, row: LicenceRow, holder_key: bytes) -> str:
        try:
            return self.queries.load(row.licence_id).holder(holder_key).name
        except HolderDataShreddedError:
            return ""  # nothing left to compare with
