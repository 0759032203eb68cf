"""The `Licence` aggregate: the lifecycle of one licence as events, with its invariants. Pure: no I/O, no clock.

Every command takes `now` (timezone-aware) from the caller's clock; lifecycle commands also take the department acting,
checked against the catalogue. Expiry is never an event: `status_at(now)` derives it from the validity period. Uses
are not lifecycle either: they live in their own streams (`licences.invocation`), so loading a licence never replays
them.

Event attributes stay within str/int/bool/None/list/dict/datetime/UUID so that eventsourcing's JSONTranscoder (with
UUIDAsHex and DatetimeAsISO) stores them; never pickle. Event classes never move or get renamed: to change one, bump
its `class_version` and add a static `upcast_vN_vM(state)`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from licences.catalogue.model import Department, FieldValue, LicenceType, split_personal, validate_fields
from licences.errors import (
    InvalidFieldError,
    LicenceRevokedError,
    LicenceSuspendedError,
    LifecycleError,
    NothingToAmendError,
    NotSuspendedError,
    ReminderError,
    RenewalNotAllowedError,
    UnauthorisedDepartmentError,
    VersionExhaustedError,
)
from licences.holder_checks import check_holder_fields, check_timeline
from licences.identifiers import (
    HolderId,
    LicenceIdentifier,
    holder_kind_of,
    make_identifier,
    parse_holder_id,
    parse_identifier,
)
from licences.privacy import HolderData, holder_digest, open_holder, seal_holder
from licences.values import (
    FieldErrors,
    LicenceStatus,
    Lifecycle,
    RevocationKind,
    SealedDocument,
    bounded,
    control_character,
    licence_id_for,
    plain_text,
    stream_key,
    utc,
)

MAX_REASON_LENGTH = 500
MAX_NAME_LENGTH = 200
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

NONCE_BYTES = 16


def _nonce() -> str:
    """A random member of each lifecycle event after issuance, so its `payload_sha256` on the public log cannot be
    used to test guesses of a reason, a revocation kind, a date or an amended value (docs/adr/0013)."""
    return secrets.token_hex(NONCE_BYTES)


def _no_nonce(state: dict[str, Any]) -> None:
    """Upcast an event recorded before lifecycle events carried a nonce: its nonce is empty."""
    state["nonce"] = ""


# -- Events ------------------------------------------------------------------------------------------------------------


class LicenceIssued(Aggregate.Created):
    """A licence was minted (制证) — or an existing one imported (存量证照), with its identifier kept as found."""

    class_version = 1
    identifier: str
    identifier_check_ok: bool
    licence_version: int
    type_code: str
    issuer: str
    holder_kind: str
    holder_digest: str
    holder_blob: str
    fields: dict[str, Any]
    valid_from: datetime
    valid_until: datetime | None
    imported: bool

    def apply(self, aggregate: Any) -> None:
        """Set up the licence's state."""
        _licence(aggregate)._on_issued(self)


class LicenceRenewed(Aggregate.Event):
    """The licence was renewed (换证/延续): a new validity period and licence version."""

    class_version = 2
    nonce: str
    actor: str
    identifier: str
    licence_version: int
    valid_from: datetime
    valid_until: datetime

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Move to the new version and validity period."""
        _licence(aggregate)._on_renewed(self)


class LicenceAmended(Aggregate.Event):
    """Registered particulars changed (变更): public field changes, and re-sealed holder data if that changed."""

    class_version = 2
    nonce: str
    actor: str
    identifier: str
    licence_version: int
    changes: dict[str, Any]
    holder_blob: str | None

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Apply the changes and move to the new version."""
        _licence(aggregate)._on_amended(self)


class LicenceSuspended(Aggregate.Event):
    """The licence was suspended (暂扣/中止): not valid until reinstated."""

    class_version = 2
    nonce: str
    actor: str
    reason: str

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Record the suspension."""
        _licence(aggregate)._on_suspended(self)


class LicenceReinstated(Aggregate.Event):
    """A suspension was lifted."""

    class_version = 2
    nonce: str
    actor: str
    reason: str

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Lift the suspension."""
        _licence(aggregate)._on_reinstated(self)


class LicenceRevoked(Aggregate.Event):
    """The licence stopped being valid for good (注销 or 吊销)."""

    class_version = 2
    nonce: str
    actor: str
    reason: str
    kind: str

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Record the revocation."""
        _licence(aggregate)._on_revoked(self)


class ExpiryReminderSent(Aggregate.Event):
    """The expiry reminder of one stage (days ahead) was queued for the current validity period."""

    class_version = 2
    nonce: str
    stage: int
    channels: list[str]
    valid_until: datetime

    upcast_v1_v2 = staticmethod(_no_nonce)

    def apply(self, aggregate: Any) -> None:
        """Remember the stage so it is never sent twice."""
        _licence(aggregate).reminders_sent.add(self.stage)


class DocumentSealed(Aggregate.Event):
    """A sealed PDF of the current licence version was produced; its SHA-256 is on the ledger."""

    class_version = 1
    licence_version: int
    pdf_sha256: str

    def apply(self, aggregate: Any) -> None:
        """Remember the document hash."""
        lic = _licence(aggregate)
        lic.sealed_documents.append(SealedDocument(self.licence_version, self.pdf_sha256, self.timestamp))


def _licence(aggregate: Any) -> Licence:
    assert isinstance(aggregate, Licence)
    return aggregate


# -- Aggregate ---------------------------------------------------------------------------------------------------------


class Licence(Aggregate):
    """One licence: its identifier, holder (digest + sealed personal data), fields, validity and lifecycle."""

    @classmethod
    def issue(
        cls,
        *,
        licence_type: LicenceType,
        issuer: Department,
        serial: str,
        holder: HolderData,
        holder_key: bytes,
        holder_salt: bytes,
        fields: Mapping[str, object],
        valid_from: datetime,
        now: datetime,
        valid_until: datetime | None = None,
        checked: IssueInput | None = None,
    ) -> Licence:
        """Mint a new licence (version 001). `valid_until` defaults to the type's validity rule. `checked` is what
        `check_issue` returned for these very inputs, when the caller already ran it (not run twice per licence)."""
        identifier = make_identifier(licence_type.code, issuer.uscc, serial, 1)
        return cls._mint(
            licence_type,
            issuer,
            identifier,
            holder,
            holder_key,
            holder_salt,
            fields,
            valid_from,
            valid_until,
            now,
            imported=False,
            checked=checked,
        )

    @classmethod
    def import_existing(
        cls,
        *,
        licence_type: LicenceType,
        issuer: Department,
        identifier: str,
        holder: HolderData,
        holder_key: bytes,
        holder_salt: bytes,
        fields: Mapping[str, object],
        valid_from: datetime,
        now: datetime,
        valid_until: datetime | None = None,
        checked: IssueInput | None = None,
    ) -> Licence:
        """Import an existing licence (存量证照): its identifier is kept even with a bad check, and flagged. `checked`
        as for `issue`."""
        parsed = parse_identifier(identifier, strict=False)
        if parsed.type_code != licence_type.code:
            raise InvalidFieldError("identifier", f"type code {parsed.type_code} is not {licence_type.code}")
        if parsed.issuer != issuer.uscc:
            raise InvalidFieldError("identifier", f"issuer {parsed.issuer} is not {issuer.uscc}")
        return cls._mint(
            licence_type,
            issuer,
            parsed,
            holder,
            holder_key,
            holder_salt,
            fields,
            valid_from,
            valid_until,
            now,
            imported=True,
            checked=checked,
        )

    @classmethod
    def _mint(
        cls,
        licence_type: LicenceType,
        issuer: Department,
        identifier: LicenceIdentifier,
        holder: HolderData,
        holder_key: bytes,
        holder_salt: bytes,
        fields: Mapping[str, object],
        valid_from: datetime,
        valid_until: datetime | None,
        now: datetime,
        *,
        imported: bool,
        checked: IssueInput | None,
    ) -> Licence:
        licence_type.authorise(issuer)
        given = checked or check_issue(licence_type, holder, fields, valid_from, valid_until)
        check_timeline(licence_type, given.holder_id, given.fields, given.valid_from, now)
        public, personal = split_personal(licence_type, given.fields)
        start, end = given.valid_from, given.valid_until
        holder_id = given.holder_id
        licence_id = licence_id_for(identifier, stream_key(holder_salt))
        sealed = HolderData(given.holder_name, holder_id.value, personal)
        return cls._create(
            LicenceIssued,
            id=licence_id,
            timestamp=utc(now),
            identifier=str(identifier),
            identifier_check_ok=identifier.check_ok,
            licence_version=identifier.version,
            type_code=licence_type.code,
            issuer=issuer.uscc,
            holder_kind=holder_kind_of(holder_id).value,
            holder_digest=holder_digest(holder_salt, holder_id.value).hex(),
            holder_blob=seal_holder(holder_key, licence_id, cls.INITIAL_VERSION, sealed),
            fields=public,
            valid_from=start,
            valid_until=end,
            imported=imported,
        )

    # -- Derived state --------------------------------------------------------------------------------------------

    def status_at(self, now: datetime) -> LicenceStatus:
        """The status at `now`: revoked and suspended win; otherwise the validity period decides."""
        moment = utc(now)
        if self.lifecycle is Lifecycle.REVOKED:
            return LicenceStatus.REVOKED
        if self.lifecycle is Lifecycle.SUSPENDED:
            return LicenceStatus.SUSPENDED
        if moment < self.valid_from:
            return LicenceStatus.NOT_YET_VALID
        if self.valid_until is not None and moment >= self.valid_until:
            return LicenceStatus.EXPIRED
        return LicenceStatus.VALID

    def holder(self, holder_key: bytes | None) -> HolderData:
        """Open the sealed holder data; raises `HolderDataShreddedError` once the key is gone."""
        return open_holder(holder_key, self.id, self.holder_blob_event_version, self.holder_blob)

    def due_reminder_stage(self, licence_type: LicenceType, now: datetime) -> int | None:
        """The tightest reminder stage whose window `now` is in, if not yet sent for this period; else None.

        After downtime several stages may be due at once: only the most urgent one is worth sending.
        """
        moment = utc(now)
        if self.lifecycle is Lifecycle.REVOKED or self.valid_until is None or moment >= self.valid_until:
            return None
        due = [s for s in licence_type.reminders.lead_days if moment >= self.valid_until - timedelta(days=s)]
        if not due or min(due) in self.reminders_sent:
            return None
        return min(due)

    # -- Commands -------------------------------------------------------------------------------------------------

    def renew(
        self, *, licence_type: LicenceType, actor: Department, now: datetime, valid_until: datetime | None = None
    ) -> None:
        """Renew inside the renewal window before expiry: the new version is valid from now, and its end follows on
        from the old end by the type's validity rule (so renewing early never shortens the holder's licence)."""
        self._authorise(licence_type, actor)
        self._refuse_if(Lifecycle.REVOKED, Lifecycle.SUSPENDED)
        moment = utc(now)
        if self.valid_until is None:
            raise RenewalNotAllowedError("a licence without expiry is never renewed")
        if moment >= self.valid_until:
            raise RenewalNotAllowedError("an expired licence is issued anew, not renewed")
        if moment < self.valid_until - timedelta(days=licence_type.renewal_window_days):
            raise RenewalNotAllowedError(f"renewal opens {licence_type.renewal_window_days} days before expiry")
        given = None if valid_until is None else bounded(valid_until, "valid_until")
        new_until = licence_type.validity.valid_until(self.valid_until) if given is None else given
        if new_until is None or utc(new_until, "valid_until") <= self.valid_until:
            raise InvalidFieldError("valid_until", "must be later than the current end of validity")
        version = self._next_licence_version()
        self.trigger_event(
            LicenceRenewed,
            timestamp=moment,
            nonce=_nonce(),
            actor=actor.uscc,
            identifier=str(self.identifier.with_version(version)),
            licence_version=version,
            valid_from=moment,  # the renewed version is valid at once: no gap, and its token is usable now
            valid_until=utc(new_until, "valid_until"),
        )

    def amend(
        self,
        *,
        licence_type: LicenceType,
        actor: Department,
        now: datetime,
        changes: Mapping[str, object],
        holder_key: bytes | None = None,
        holder_name: str | None = None,
    ) -> None:
        """Change registered particulars; personal fields or the holder name need the holder key to re-seal."""
        self._authorise(licence_type, actor)
        self._refuse_if(Lifecycle.REVOKED)
        errors = FieldErrors()
        checked = errors.check(checked_fields, licence_type, changes, partial=True)
        if holder_name is not None:
            errors.check(_holder_name, holder_name)
        errors.raise_any()
        assert checked is not None
        public, personal = split_personal(licence_type, checked)
        public = {k: v for k, v in public.items() if self.fields.get(k) != v}
        blob = self._reseal(personal, holder_name, holder_key) if personal or holder_name is not None else None
        if not public and blob is None:
            raise NothingToAmendError("the amendment changes nothing")
        version = self._next_licence_version()
        self.trigger_event(
            LicenceAmended,
            timestamp=utc(now),
            nonce=_nonce(),
            actor=actor.uscc,
            changes=public,
            holder_blob=blob,
            identifier=str(self.identifier.with_version(version)),
            licence_version=version,
        )

    def suspend(self, *, licence_type: LicenceType, actor: Department, now: datetime, reason: str) -> None:
        """Suspend an active licence (暂扣)."""
        self._authorise(licence_type, actor)
        self._refuse_if(Lifecycle.REVOKED, Lifecycle.SUSPENDED)
        self.trigger_event(
            LicenceSuspended, timestamp=utc(now), nonce=_nonce(), actor=actor.uscc, reason=_reason(reason)
        )

    def reinstate(self, *, licence_type: LicenceType, actor: Department, now: datetime, reason: str = "") -> None:
        """Lift a suspension; only a suspended licence can be reinstated."""
        self._authorise(licence_type, actor)
        self._refuse_if(Lifecycle.REVOKED)
        if self.lifecycle is not Lifecycle.SUSPENDED:
            raise NotSuspendedError("only a suspended licence can be reinstated")
        self.trigger_event(
            LicenceReinstated, timestamp=utc(now), nonce=_nonce(), actor=actor.uscc, reason=_reason(reason, True)
        )

    def revoke(
        self,
        *,
        licence_type: LicenceType,
        actor: Department,
        now: datetime,
        reason: str,
        kind: RevocationKind = RevocationKind.VOLUNTARY,
    ) -> None:
        """Revoke for good (注销 or 吊销); a suspended licence can be revoked, a revoked one cannot be again."""
        self._authorise(licence_type, actor)
        self._refuse_if(Lifecycle.REVOKED)
        self.trigger_event(
            LicenceRevoked,
            timestamp=utc(now),
            nonce=_nonce(),
            actor=actor.uscc,
            reason=_reason(reason),
            kind=kind.value,
        )

    def record_reminder(self, *, licence_type: LicenceType, stage: int, now: datetime) -> None:
        """Record that the reminder of `stage` was queued; refuses a stage already sent or not due (idempotency)."""
        if stage != self.due_reminder_stage(licence_type, now):
            raise ReminderError(f"reminder stage {stage} is not due now or was already sent")
        assert self.valid_until is not None
        self.trigger_event(
            ExpiryReminderSent,
            timestamp=utc(now),
            nonce=_nonce(),
            stage=stage,
            valid_until=self.valid_until,
            channels=[c.value for c in licence_type.reminders.channels],
        )

    def record_sealed_document(self, *, pdf_sha256: str, now: datetime) -> None:
        """Record the SHA-256 (lower-case hex) of a sealed PDF of the current version."""
        if _SHA256_HEX.fullmatch(pdf_sha256) is None:
            raise InvalidFieldError("pdf_sha256", "must be 64 lower-case hex digits")
        self._refuse_if(Lifecycle.REVOKED)
        self.trigger_event(
            DocumentSealed, timestamp=utc(now), licence_version=self.licence_version, pdf_sha256=pdf_sha256
        )

    # -- Invariant helpers ----------------------------------------------------------------------------------------

    def _authorise(self, licence_type: LicenceType, actor: Department) -> None:
        if licence_type.code != self.type_code:
            raise UnauthorisedDepartmentError(f"licence type {licence_type.code} is not this licence's type")
        licence_type.authorise(actor)

    def _refuse_if(self, *phases: Lifecycle) -> None:
        if self.lifecycle not in phases:
            return
        if self.lifecycle is Lifecycle.REVOKED:
            raise LicenceRevokedError("the licence is revoked")
        raise LicenceSuspendedError("not allowed while the licence is suspended")

    def _next_licence_version(self) -> int:
        if self.licence_version >= 999:
            raise VersionExhaustedError("licence version 999 reached")
        return self.licence_version + 1

    def _reseal(self, personal: dict[str, FieldValue], name: str | None, holder_key: bytes | None) -> str | None:
        if holder_key is None:
            raise LifecycleError("changing personal data needs the holder key")
        current = self.holder(holder_key)
        updated = HolderData(
            current.name if name is None else _holder_name(name),
            current.id_number,
            {**current.personal_fields, **personal},
        )
        if updated == current:
            return None
        return seal_holder(holder_key, self.id, self.version + 1, updated)

    # -- Event handlers (called by the events' apply) -------------------------------------------------------------

    def _on_issued(self, e: LicenceIssued) -> None:
        self.identifier: LicenceIdentifier = parse_identifier(e.identifier, strict=False)
        self.licence_version: int = e.licence_version
        self.type_code: str = e.type_code
        self.issuer: str = e.issuer
        self.holder_kind: str = e.holder_kind
        self.holder_digest: str = e.holder_digest
        self.holder_blob: str = e.holder_blob
        self.holder_blob_event_version: int = e.originator_version
        self.fields: dict[str, FieldValue] = dict(e.fields)
        self.valid_from: datetime = e.valid_from
        self.valid_until: datetime | None = e.valid_until
        self.imported: bool = e.imported
        self.lifecycle: Lifecycle = Lifecycle.ACTIVE
        self.suspension_reason: str | None = None
        self.revocation: tuple[RevocationKind, str] | None = None
        self.reminders_sent: set[int] = set()
        self.sealed_documents: list[SealedDocument] = []

    def _on_renewed(self, e: LicenceRenewed) -> None:
        self.identifier = parse_identifier(e.identifier)
        self.licence_version = e.licence_version
        self.valid_from, self.valid_until = e.valid_from, e.valid_until
        self.reminders_sent = set()

    def _on_amended(self, e: LicenceAmended) -> None:
        self.identifier = parse_identifier(e.identifier)
        self.licence_version = e.licence_version
        self.fields = {**self.fields, **e.changes}
        if e.holder_blob is not None:
            self.holder_blob, self.holder_blob_event_version = e.holder_blob, e.originator_version

    def _on_suspended(self, e: LicenceSuspended) -> None:
        self.lifecycle, self.suspension_reason = Lifecycle.SUSPENDED, e.reason

    def _on_reinstated(self, e: LicenceReinstated) -> None:
        self.lifecycle, self.suspension_reason = Lifecycle.ACTIVE, None

    def _on_revoked(self, e: LicenceRevoked) -> None:
        self.lifecycle, self.revocation = Lifecycle.REVOKED, (RevocationKind(e.kind), e.reason)


@dataclass(frozen=True, slots=True)
class IssueInput:
    """The checked input of an issue: canonical holder number and name, validated fields, validity in UTC."""

    holder_id: HolderId
    holder_name: str
    fields: dict[str, FieldValue]
    valid_from: datetime
    valid_until: datetime | None


def check_issue(
    licence_type: LicenceType,
    holder: HolderData,
    fields: Mapping[str, object],
    valid_from: datetime,
    valid_until: datetime | None,
) -> IssueInput:
    """Check every input of an issue before refusing any: one `InvalidFieldError` (an `InvalidFieldsError` when
    several are bad) names all the bad fields at once."""
    errors = FieldErrors()
    holder_id = errors.check(parse_holder_id, holder.id_number, licence_type.holder_kind)
    name = errors.check(_holder_name, holder.name)
    checked = errors.check(checked_fields, licence_type, fields)
    validity = errors.check(_validity, licence_type, valid_from, valid_until)
    if holder_id is not None and checked is not None:  # fields that restate the ID number, dates in order
        errors.check(check_holder_fields, licence_type, holder_id, checked)
    errors.raise_any()
    assert holder_id is not None and name is not None and checked is not None and validity is not None
    return IssueInput(holder_id, name, checked, *validity)


def _validity(
    licence_type: LicenceType, valid_from: datetime, valid_until: datetime | None
) -> tuple[datetime, datetime | None]:
    """The validity period in UTC, both ends within the accepted range (`licences.values.bounded`)."""
    errors = FieldErrors()
    start = errors.check(bounded, valid_from, "valid_from")
    end = None if valid_until is None else errors.check(bounded, valid_until, "valid_until")
    if valid_until is not None and licence_type.validity.years is None:
        errors.errors.append(InvalidFieldError("valid_until", f"{licence_type.name_zh} has no expiry"))
    errors.raise_any()
    assert start is not None
    if end is None:
        return start, licence_type.validity.valid_until(start)
    if end <= start:
        raise InvalidFieldError("valid_until", "must be later than valid_from")
    return start, end


def _holder_name(name: str) -> str:
    text = name.strip()
    if not 1 <= len(text) <= MAX_NAME_LENGTH:
        raise InvalidFieldError("holder_name", f"must be 1-{MAX_NAME_LENGTH} characters")
    return plain_text(text, "holder_name")


def checked_fields(
    licence_type: LicenceType, fields: Mapping[str, object], *, partial: bool = False
) -> dict[str, FieldValue]:
    """The type's fields validated (`validate_fields`), every bad one named at once, and no text value with a
    control or format character (NUL, bidi overrides…: they vanish or reorder in the sealed PDF)."""
    errors = FieldErrors()
    for name, value in fields.items():
        errors.check(_one_field, licence_type, name, value)
    if not partial:
        for spec in licence_type.fields:
            if spec.required and spec.default is None and spec.name not in fields:
                errors.errors.append(InvalidFieldError(f"fields.{spec.name}", "is required"))
    errors.raise_any()
    return validate_fields(licence_type, fields, partial=partial)


def _one_field(licence_type: LicenceType, name: str, value: object) -> None:
    label = f"fields.{name}" if control_character(name) is None else f"fields.{name!r}"
    if licence_type.field_spec(name) is None:
        raise InvalidFieldError(label, f"not a field of {licence_type.name_zh}")
    if isinstance(value, str):
        plain_text(value, label)
    coerced = validate_fields(licence_type, {name: value}, partial=True)[name]
    if isinstance(coerced, str):
        plain_text(coerced, label)


def _reason(reason: str, optional: bool = False) -> str:
    text = reason.strip()
    if (not text and not optional) or len(text) > MAX_REASON_LENGTH:
        raise InvalidFieldError("reason", f"must be 1-{MAX_REASON_LENGTH} characters")
    return plain_text(text, "reason")
