"""Acceptance rules (DESIGN §9): which of a peer region's licence types this region recognises (互认), versioned.

A rule names one peer origin and the set of licence type codes recognised from it. Rules are never edited: each
change (`trustledger peers accept ORIGIN --types …`) stores a new version, so a verdict can always say which rule it
applied and an auditor can see when recognition was granted or withdrawn. Fails closed: no rule for a peer, or an
empty rule, recognises nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from anchors.errors import AnchorError
from anchors.model import format_time

TYPE_CODE = re.compile(r"[0-9A-Z]{1,64}")  # the identifier's type code field (licences.identifiers)
MAX_TYPES = 1000
MAX_NOTE = 500


class AcceptanceError(AnchorError):
    """An acceptance rule that cannot be stored: a malformed type code, too many types, an over-long note."""


def parse_type_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Licence type codes from CLI/API input (comma-separated allowed), strictly checked, sorted and deduplicated."""
    codes: set[str] = set()
    for value in values:
        for part in value.split(","):
            code = part.strip()
            if not code:
                continue
            if TYPE_CODE.fullmatch(code) is None:
                raise AcceptanceError(f"licence type {code!r} must be 1-64 characters of 0-9A-Z")
            codes.add(code)
    if len(codes) > MAX_TYPES:
        raise AcceptanceError(f"at most {MAX_TYPES} licence types per rule")
    return tuple(sorted(codes))


@dataclass(frozen=True)
class AcceptanceRule:
    """Version `version` of what this region recognises from the peer `origin`: these licence types, nothing else."""

    origin: str
    version: int
    licence_types: tuple[str, ...]
    set_at: datetime
    note: str = ""

    def __post_init__(self) -> None:
        if self.version < 1:
            raise AcceptanceError("rule versions start at 1")
        if tuple(sorted(set(self.licence_types))) != self.licence_types:
            raise AcceptanceError("licence types must be sorted and distinct (use parse_type_codes)")
        if len(self.note) > MAX_NOTE:
            raise AcceptanceError(f"note: at most {MAX_NOTE} characters")

    def accepts(self, licence_type: str) -> bool:
        """Whether a licence of this type from the peer is recognised under this rule."""
        return licence_type in self.licence_types

    def to_json(self) -> dict[str, object]:
        """The API and CLI form."""
        return {
            "origin": self.origin,
            "version": self.version,
            "licence_types": list(self.licence_types),
            "set_at": format_time(self.set_at),
            "note": self.note,
        }


def acceptance_problem(rule: AcceptanceRule | None, origin: str, licence_type: str) -> str | None:
    """Why a licence of `licence_type` from `origin` is not recognised under `rule`, or None if it is."""
    if rule is None:
        return f"this region has no acceptance rule for {origin}: it recognises none of its licence types"
    if not rule.accepts(licence_type):
        return (
            f"licence type {licence_type} of {origin} is not recognised here (acceptance rule version {rule.version})"
        )
    return None
