"""Uses of a licence (用证): the decision, and one `Invocation` stream per use.

DESIGN §5: uses are not lifecycle. Each `LicenceInvoked` is the only event of its own stream, so a licence used a
million times still loads in microseconds; a refused attempt is recorded just like an accepted one.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate

from licences.domain import Licence
from licences.errors import InvalidFieldError
from licences.values import LICENCE_NAMESPACE, LicenceStatus, utc

INVOCATION_NAMESPACE = uuid5(LICENCE_NAMESPACE, "invocation")
_MATTER_CODE = re.compile(r"[0-9A-Za-z._-]{1,64}")
_TEXT_LIMITS = {"verifier": 200, "purpose": 500, "consent": 1000}


class UseOutcome(StrEnum):
    """Whether the approval system may rely on the licence for the matter."""

    ACCEPTED = "accepted"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    """Why a use was refused; stable codes for APIs and reports."""

    REVOKED = "licence_revoked"
    SUSPENDED = "licence_suspended"
    EXPIRED = "licence_expired"
    NOT_YET_VALID = "licence_not_yet_valid"
    HOLDER_MISMATCH = "holder_mismatch"
    NO_CONSENT = "no_consent"


_REFUSAL_BY_STATUS = {
    LicenceStatus.REVOKED: RefusalReason.REVOKED,
    LicenceStatus.SUSPENDED: RefusalReason.SUSPENDED,
    LicenceStatus.EXPIRED: RefusalReason.EXPIRED,
    LicenceStatus.NOT_YET_VALID: RefusalReason.NOT_YET_VALID,
}


def decide_use(
    licence: Licence, now: datetime, claimed_holder_digest: bytes | None
) -> tuple[UseOutcome, RefusalReason | None]:
    """Decide whether a use may rely on `licence` at `now`: it must be valid, and held by the claimed holder.

    `claimed_holder_digest` is the 16-byte `hd` the verifier was shown (e.g. from the QR token), or None when the
    verifier asserts no holder; it is compared in constant time.
    """
    status = licence.status_at(now)
    if status is not LicenceStatus.VALID:
        return UseOutcome.REFUSED, _REFUSAL_BY_STATUS[status]
    if claimed_holder_digest is not None and not hmac.compare_digest(
        claimed_holder_digest, bytes.fromhex(licence.holder_digest)
    ):
        return UseOutcome.REFUSED, RefusalReason.HOLDER_MISMATCH
    return UseOutcome.ACCEPTED, None


def invocation_id_for(licence_id: UUID, request_key: str) -> UUID:
    """A deterministic stream id for a use, from the caller's idempotency key: a retried request finds its record."""
    return uuid5(INVOCATION_NAMESPACE, f"{licence_id}/{request_key}")


class LicenceInvoked(Aggregate.Created):
    """An approval system relied on (or was refused) a licence for a matter, with the holder's consent evidence."""

    class_version = 1
    licence_id: UUID
    identifier: str
    licence_version: int
    verifier: str
    matter_code: str
    purpose: str
    consent: str
    holder_checked: bool
    outcome: str
    refusal_reason: str | None

    def apply(self, aggregate: Any) -> None:
        """Set the record's state."""
        assert isinstance(aggregate, Invocation)
        aggregate._on_invoked(self)


class Invocation(Aggregate):
    """The record of one use of a licence; its stream holds exactly one `LicenceInvoked` event."""

    @classmethod
    def record(
        cls,
        *,
        licence: Licence,
        now: datetime,
        verifier: str,
        matter_code: str,
        purpose: str,
        consent: str,
        claimed_holder_digest: bytes | None = None,
        invocation_id: UUID | None = None,
    ) -> Invocation:
        """Decide a use and record it, accepted or refused. Without consent evidence the use is refused."""
        texts = {"verifier": verifier, "purpose": purpose, "consent": consent}
        for name, value in texts.items():
            if len(value) > _TEXT_LIMITS[name] or (name != "consent" and not value.strip()):
                raise InvalidFieldError(name, f"must be 1-{_TEXT_LIMITS[name]} characters")
        if _MATTER_CODE.fullmatch(matter_code) is None:
            raise InvalidFieldError("matter_code", "must be 1-64 characters of 0-9A-Za-z._-")
        if consent.strip():
            outcome, reason = decide_use(licence, now, claimed_holder_digest)
        else:
            outcome, reason = UseOutcome.REFUSED, RefusalReason.NO_CONSENT
        return cls._create(
            LicenceInvoked,
            id=invocation_id or uuid4(),
            timestamp=utc(now),
            licence_id=licence.id,
            identifier=str(licence.identifier),
            licence_version=licence.licence_version,
            verifier=verifier.strip(),
            matter_code=matter_code,
            purpose=purpose.strip(),
            consent=consent.strip(),
            holder_checked=claimed_holder_digest is not None,
            outcome=outcome.value,
            refusal_reason=None if reason is None else reason.value,
        )

    def _on_invoked(self, e: LicenceInvoked) -> None:
        self.licence_id: UUID = e.licence_id
        self.identifier: str = e.identifier
        self.licence_version: int = e.licence_version
        self.verifier: str = e.verifier
        self.matter_code: str = e.matter_code
        self.purpose: str = e.purpose
        self.consent: str = e.consent
        self.holder_checked: bool = e.holder_checked
        self.outcome: UseOutcome = UseOutcome(e.outcome)
        self.refusal_reason: RefusalReason | None = (
            None if e.refusal_reason is None else RefusalReason(e.refusal_reason)
        )
