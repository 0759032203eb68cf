"""Licence-free handling (免证办, 一证通办): a holder's licences for a matter, each disclosure recorded as a use.

The approval system names a matter, the applicant's ID number or USCC, the consent evidence and the purpose. In one
unit of work: the holder's licences are found through the salted holder digest (`licence_index.holder_digest`), those
of the matter's types are kept (no other type is ever disclosed), and each is used through the one use recorder
(`LicenceCommands.use`: a `LicenceInvoked` with matter, purpose, consent and verifier, accepted or refused). A valid
licence discloses only the fields the matter needs (data minimisation); a refused one (suspended, revoked, expired)
is reported with its status and no fields. A holder with none gets an empty answer and nothing is recorded.

An idempotency key makes a retry return the first answer and record nothing; the same key with another request is
refused (`licences.idempotency`, one key space with every other licence command).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.ids import LeafIndex
from licences.application import LicenceService
from licences.errors import InvalidFieldError
from licences.idempotency import request_hash
from licences.identifiers import HolderKind, parse_holder_id
from licences.matters import Matter, MatterCatalogue
from licences.privacy import holder_digest
from licences.values import FieldErrors, LicenceId, LicenceStatus, plain_text
from licences.views import LicenceView, UseResult

_TEXT_LIMITS = {"verifier": 200, "purpose": 500, "consent": 1000}
_REQUEST = "matter-lookup"  # the command's name in the request digest: a key reused by another command conflicts


@dataclass(frozen=True)
class Disclosure:
    """One licence of the holder for the matter: the recorded use, and the fields the matter may see (none if
    refused)."""

    use: UseResult
    fields: dict[str, Any]

    @property
    def licence(self) -> LicenceView:
        """The licence as it was when used."""
        return self.use.licence


@dataclass(frozen=True)
class MatterLookup:
    """The answer to a licence-free lookup: every disclosure, newest licence first."""

    matter: Matter
    disclosures: tuple[Disclosure, ...]

    def prefill(self) -> dict[str, dict[str, Any]]:
        """The needed fields flattened for a form, each with the licence it came from. When two licences give the same
        field name, the newest accepted licence's value is kept (the disclosures are newest first)."""
        flat: dict[str, dict[str, Any]] = {}
        for d in self.disclosures:
            for name, value in d.fields.items():
                if name not in flat:
                    flat[name] = {
                        "value": value,
                        "licence_id": str(d.licence.id),
                        "identifier": d.licence.identifier,
                        "type_code": d.licence.type_code,
                    }
        return flat


def _check_text(errors: FieldErrors, name: str, value: str) -> None:
    limit = _TEXT_LIMITS[name]
    if not value.strip() or len(value) > limit:
        errors.errors.append(InvalidFieldError(name, f"must be 1-{limit} characters, not blank"))
    else:
        errors.check(plain_text, value, name)


class MatterLookups:
    """Runs licence-free lookups for one region over its licence service and matter catalogue."""

    def __init__(self, licences: LicenceService, matters: MatterCatalogue) -> None:
        self.licences = licences
        self.matters = matters

    def holder_digest_of(self, holder_id: str) -> bytes:
        """The holder's salted digest; `InvalidFieldError` naming `holder_id` for a bad GB 11643 / GB 32100 number."""
        parsed = parse_holder_id(holder_id.strip(), HolderKind.EITHER, "holder_id")
        return holder_digest(self.licences.salt, parsed.value)

    def lookup(
        self,
        matter_code: str,
        *,
        holder_id: str,
        verifier: str,
        purpose: str,
        consent: str,
        idempotency_key: str | None = None,
        only_types: Sequence[str] | None = None,
    ) -> MatterLookup:
        """The holder's licences of the matter's types, each use recorded in one transaction (see the module doc).

        `only_types` narrows the matter's types further (a peer region asks only for the types it recognises); each
        must be one of the matter's type codes."""
        matter = self.matters.matter(matter_code)  # `UnknownMatterError` before anything else
        errors = FieldErrors()
        digest = errors.check(self.holder_digest_of, holder_id)
        for name, value in (("verifier", verifier), ("purpose", purpose), ("consent", consent)):
            _check_text(errors, name, value)
        types = errors.check(_narrowed, matter, only_types)
        errors.raise_any()
        assert digest is not None and types is not None  # raise_any raised otherwise
        parts = [_REQUEST, matter.code, digest.hex(), verifier, purpose, consent]
        request = request_hash(parts if only_types is None else [*parts, ",".join(sorted(types))])
        idempotency = self.licences.idempotency
        with self.licences.recording.unit() as conn:
            replayed = idempotency.replay(idempotency_key, request)
            if replayed is not None:
                return self._replayed(matter, replayed)
            rows = [r for r in self.licences.store.by_holder(digest.hex()) if r.type_code in types]
            uses = [
                self.licences.use(
                    r.licence_id,
                    verifier=verifier,
                    matter_code=matter.code,
                    purpose=purpose,
                    consent=consent,
                    claimed_holder_digest=digest,
                )
                for r in rows
            ]
            if uses:  # nothing recorded for a holder with none: no idempotency record either
                idempotency.remember(conn, idempotency_key, request, _stored(uses))
        return MatterLookup(matter, tuple(_disclosure(matter, u) for u in uses))

    def _replayed(self, matter: Matter, stored: Mapping[str, Any]) -> MatterLookup:
        uses = [
            UseResult(
                UUID(u["invocation_id"]),
                u["outcome"],
                u["refusal_reason"],
                LeafIndex(int(u["leaf_index"])),  # our own stored result: written from a `LeafIndex`
                self.licences.get(LicenceId(UUID(u["licence_id"]))),
            )
            for u in stored["uses"]
        ]
        return MatterLookup(matter, tuple(_disclosure(matter, u) for u in uses))


def _narrowed(matter: Matter, only_types: Sequence[str] | None) -> frozenset[str]:
    """The type codes a lookup discloses: the matter's, or those of `only_types` (all of them the matter's)."""
    mine = frozenset(n.type_code for n in matter.needs)
    if only_types is None:
        return mine
    if not only_types or not set(only_types) <= mine:
        raise InvalidFieldError("licence_types", f"must be a non-empty list of the matter's type codes {sorted(mine)}")
    return frozenset(only_types)


def _stored(uses: list[UseResult]) -> dict[str, Any]:
    """What the idempotency record keeps: ids, outcomes and leaves, no field values. `licence_id` (the first
    licence's) links the record to the holder, so shredding the holder blinds it."""
    return {
        "licence_id": str(uses[0].licence.id),
        "uses": [
            {
                "invocation_id": str(u.invocation_id),
                "licence_id": str(u.licence.id),
                "outcome": u.outcome,
                "refusal_reason": u.refusal_reason,
                "leaf_index": int(u.leaf_index),
            }
            for u in uses
        ],
    }


def _disclosure(matter: Matter, use: UseResult) -> Disclosure:
    """The use with the fields the matter needs, only when the use was accepted and the licence is still valid (a
    replayed answer shows the licence as it is now: one revoked since the first answer discloses nothing)."""
    need = matter.need(use.licence.type_code)
    if use.outcome != "accepted" or use.licence.status is not LicenceStatus.VALID or need is None:
        return Disclosure(use, {})
    fields = use.licence.fields
    return Disclosure(use, {name: fields[name] for name in need.fields if name in fields})
