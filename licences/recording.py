"""The licence library's `Recording`: `ledger.recording.Recording` raising `licences.errors.ConcurrentUpdateError`.

The recording itself moved to `ledger/recording.py` (the seal registry records events too and knows no licence). This
subclass stays because licence callers catch a stream-version clash as a `LicenceError` (a bulk import turns it into
a rejected row, the CLI into a message); the composition root builds this one and hands it to `seals` as well.
"""

from __future__ import annotations

from ledger import recording
from licences.errors import ConcurrentUpdateError


class Recording(recording.Recording):
    """Saves and loads domain events with read models in the same transaction; a clash is a licence error."""

    conflict = ConcurrentUpdateError
