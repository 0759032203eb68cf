"""Column types and the date-time helper shared by the stores built on the ledger (`licences`, `reminders`, `seals`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload

from sqlalchemy import BigInteger, DateTime, Integer

LEAF = BigInteger().with_variant(Integer, "sqlite")  # a ledger leaf index
WHEN = DateTime(timezone=True)


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive date-times; every time we store is UTC, so say so."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)
