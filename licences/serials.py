"""Serial reservation (ADR 0003): the next serials of a licence type and issuer in the year, counted in China.

Reserved inside the command's unit of work, under the log's writer lock: concurrent issuers never share a serial,
and a command that fails rolls its reservation back with it (ADR 0010).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from clock import CHINA_TIME
from licences.store import LicenceStore

SerialKey = tuple[str, str]  # (licence type code, issuer USCC)


class SerialReserver:
    """Hands out `YYYY` + seven-digit serials per (type, issuer, year), reserving a batch's in one step per key."""

    def __init__(self, store: LicenceStore) -> None:
        self.store = store

    def reserve(self, items: Sequence[SerialKey | None], now: datetime) -> list[str | None]:
        """One serial per item, in order; None for an item that needs none (an imported licence keeps its own)."""
        year = now.astimezone(CHINA_TIME).year  # the year in China: at 02:00 on 1 January there, UTC is in December
        wanted: dict[tuple[str, str, int], int] = {}
        for item in items:
            if item is not None:
                key = (*item, year)
                wanted[key] = wanted.get(key, 0) + 1
        next_free = {key: self.store.reserve_serials(*key, count) for key, count in wanted.items()}
        serials: list[str | None] = []
        for item in items:
            if item is None:
                serials.append(None)
                continue
            key = (*item, year)
            serials.append(f"{year}{next_free[key]:07d}")
            next_free[key] += 1
        return serials
