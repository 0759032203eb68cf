"""Request and response schemas of the API (pydantic), kept apart from storage rows and domain views.

Response models say exactly what a role gets: a verifier's answer has no holder name or ID number, a public answer no
identifier of the holder at all. Requests forbid unknown members, so a typo is a 422 naming it, not a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    model_validator,
)

from ledger.tiles import MAX_INDEX
from licences.errors import InvalidFieldError
from licences.values import bounded, control_character
from verify_api import problems as p
from verify_api.problems import ProblemType

# -- shared input types: every request body, path and query parameter takes its bounds from here -------------------


def _plain(value: str) -> str:
    """No control or format character (NUL, bidi overrides, zero-width…): the database refuses some, documents drop
    or reorder others, and then ledger and document disagree (`licences.values.plain_text`)."""
    found = control_character(value)
    if found is not None:
        raise ValueError(f"must not contain control or format characters (found {found})")
    return value


def _instant(value: datetime) -> datetime:
    """An aware date-time within the range the ledger accepts (`licences.values.bounded`), in UTC."""
    try:
        return bounded(value, "date-time")
    except InvalidFieldError as exc:
        raise ValueError(exc.reason) from None


PLAIN = AfterValidator(_plain)
Instant = Annotated[AwareDatetime, AfterValidator(_instant)]
"""Every date-time input of the API: aware (with an offset), and from `EARLIEST` to `LATEST` once in UTC."""
PlainText = Annotated[str, PLAIN]
"""Every free-text input of the API: no control or format characters."""
MAX_INT = (1 << 63) - 1
"""The largest integer any input may hold (a signed 64-bit column); log indexes and sizes stay below `MAX_LOG_INDEX`."""
MAX_LOG_INDEX = MAX_INDEX

Text200 = Annotated[str, Field(min_length=1, max_length=200), PLAIN]
Reason = Annotated[str, Field(min_length=1, max_length=500), PLAIN]
FieldName = Annotated[str, Field(max_length=64), PLAIN]
MAX_FIELD_VALUE_LENGTH = 2000


def _field_value(value: object) -> str | int:
    """A licence field's value: text (plain, at most 2000 characters) or a 64-bit integer. One validator rather than
    a union, so that an error names `fields.<name>` once instead of once per member of the union."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not -MAX_INT - 1 <= value <= MAX_INT:
            raise ValueError("must be a 64-bit integer")
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string or an integer")
    if len(value) > MAX_FIELD_VALUE_LENGTH:
        raise ValueError(f"must be at most {MAX_FIELD_VALUE_LENGTH} characters")
    return _plain(value)


FieldValue = Annotated[
    str | int,
    PlainValidator(_field_value),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "maxLength": MAX_FIELD_VALUE_LENGTH},
                {"type": "integer", "minimum": -MAX_INT - 1, "maximum": MAX_INT},
            ]
        }
    ),
]
HexDigest = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$", description="16-byte salted holder digest, hex")]
Uscc = Annotated[str, Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$", description="USCC (GB 32100-2015)")]
Status = Literal["valid", "not_yet_valid", "expired", "suspended", "revoked"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- operations -------------------------------------------------------------------------------------------------------


class Health(BaseModel):
    """Liveness/readiness of one worker."""

    status: Literal["ok"]
    database: Literal["ok"]
    region: str
    origin: str


class Problem(BaseModel):
    """RFC 9457 problem details (application/problem+json); `type` is a stable URI from the problem registry."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    field: str | None = Field(default=None, description="the request field at fault, dotted (e.g. fields.address)")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "A problem (RFC 9457) with a stable `type` URI"},
    "5XX": {"model": Problem, "description": "A problem (RFC 9457); quote `request_id` when reporting it"},
}


def problem_responses(*problems: ProblemType, page: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route for the problems it can answer with, one entry per status naming each
    problem type's slug (the last segment of its `type` URI), so integrators see which `type`s to switch on.

    A `page` route (HTML) states the media type itself: FastAPI would document a model under the page's `text/html`.
    """
    by_status: dict[int, list[ProblemType]] = {}
    for problem in problems:
        by_status.setdefault(problem.status, []).append(problem)
    kind: dict[str, Any] = {"content": {p.PROBLEM_MEDIA_TYPE: {}}} if page else {"model": Problem}
    return {
        status: {**kind, "description": " or ".join(f"`{x.slug}` ({x.title})" for x in dict.fromkeys(found))}
        for status, found in sorted(by_status.items())
    }


# Problem groups the routes combine (`problem_responses(*AUTH, *BODY, p.LICENCE_NOT_FOUND)`).
AUTH = (p.UNAUTHENTICATED, p.FORBIDDEN)
"""A route that needs an API key: no or unknown key (401), a key of another role (403)."""
BODY = (p.VALIDATION, p.INVALID_FIELD, p.PAYLOAD_TOO_LARGE)
"""A route with a JSON body: malformed or invalid (422, `field` names the member, `body` for the whole), too big."""
QUERY = (p.VALIDATION,)
"""A route with query or path parameters that are checked (422 naming the parameter)."""
BUSY = (p.BUSY,)
"""A route that reads or writes the database: 503 with Retry-After when it cannot get a connection or lock in time."""
LIFECYCLE = (
    p.LIFECYCLE_CONFLICT,
    p.LICENCE_REVOKED,
    p.LICENCE_SUSPENDED,
    p.NOT_SUSPENDED,
    p.RENEWAL_NOT_ALLOWED,
    p.NOTHING_TO_AMEND,
    p.CONCURRENT_UPDATE,
    p.IDEMPOTENCY_CONFLICT,
)
"""A lifecycle command: the licence's state does not allow it (409), or a reused Idempotency-Key (422)."""


# -- log evidence -----------------------------------------------------------------------------------------------------


class InclusionProofOut(BaseModel):
    """RFC 9162 §2.1.3 inclusion proof of one leaf in the tree of `tree_size` leaves (hashes base64)."""

    leaf_index: int
    tree_size: int
    hashes: list[str]


class CheckpointOut(BaseModel):
    """The signed checkpoint a proof verifies against: C2SP signed note, its size and root, and the log's key."""

    tree_size: int
    root_hash: str = Field(description="base64 root hash (RFC 9162 §2.1.1)")
    note: str = Field(description="the C2SP tlog-checkpoint signed note, verbatim")
    signed_at: str
    verifier_key: str = Field(description="Go note verifier key of the log (`<name>+<id>+<key>`)")


class StatusProvenOut(BaseModel):
    """Against which signed checkpoint the licence's status was proven (DESIGN §4b): its size and the status map
    root it commits to; for approval systems also the map entry the verdict rests on and where to fetch the whole
    proof (the public answer leaves those out: they name the licence identifier)."""

    checkpoint_size: int
    map_root: str = Field(description="base64 status map root of that checkpoint (its `status-map` line)")
    identifier: str | None = None
    value: str | None = Field(default=None, description="the entry's canonical JSON, as committed in the map")
    proof_url: str | None = Field(default=None, description="`GET /v1/status/proof` for this entry at that size")


class StatusProofDoc(BaseModel):
    """A status map proof (DESIGN §4b): check it with the log's verifier key against the checkpoint it carries."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: str = Field(description="the signed checkpoint note; its first extension line is `status-map <root>`")
    identifier: str
    value: str | None = Field(description="canonical JSON of the entry, or null when the map has none")
    leaf: dict[str, str] | None = Field(description="for non-membership ending at another entry: its path, value_hash")
    siblings: list[str] = Field(description="bottom-up siblings, base64")


# -- licences (issuing departments, auditors) -------------------------------------------------------------------------


class IssueIn(_Request):
    """A licence to issue; the issuing department is the API key's principal."""

    type_code: Annotated[str, Field(min_length=1, max_length=64, description="catalogue type code or key"), PLAIN]
    holder_id: Annotated[str, Field(min_length=1, max_length=64, description="resident ID number or USCC"), PLAIN]
    holder_name: Text200
    fields: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=64)
    valid_from: Instant | None = None
    valid_until: Instant | None = None


class RenewIn(_Request):
    """Renewal: a new validity period (default: the catalogue's rule from today)."""

    valid_until: Instant | None = None


class AmendIn(_Request):
    """Amendment of registered particulars (and, for a citizen, the holder's name)."""

    changes: dict[FieldName, FieldValue] = Field(default_factory=dict, max_length=64)
    holder_name: Text200 | None = None


class SuspendIn(_Request):
    """Suspension (暂扣) with its reason."""

    reason: Reason


class ReinstateIn(_Request):
    """Lifting a suspension."""

    reason: Annotated[str, Field(max_length=500), PLAIN] = ""


class RevokeIn(_Request):
    """Revocation: 注销 (voluntary) or 吊销 (penalty)."""

    reason: Reason
    kind: Literal["voluntary", "penalty"] = "voluntary"


class LicenceOut(BaseModel):
    """A licence as its issuing department and auditors see it (public fields only; no holder name or number)."""

    id: str
    identifier: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    issuer: str
    issuer_name: str
    holder_kind: str
    holder_digest: str
    status: Status
    lifecycle: Literal["active", "suspended", "revoked"]
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    fields: dict[str, Any]
    leaf_index: int = Field(description="leaf of the event that minted this version")
    last_leaf: int = Field(description="leaf of the licence's latest lifecycle event")
    token: str = Field(description="base64url COSE_Sign1 token of this version")
    qr_url: str


class LicencePage(BaseModel):
    """One page of licences; pass `next_after` as `after` for the next page (issuer listing)."""

    items: list[LicenceOut]
    next_after: str | None = None


# -- verification (approval systems) ----------------------------------------------------------------------------------


class VerifyIn(_Request):
    """A use: the matter (事项) being handled, why, and the holder's consent evidence (用证授权)."""

    matter_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z._-]{1,64}$", description="事项编码")]
    purpose: Reason
    consent: Annotated[
        str, Field(min_length=1, max_length=1000, description="consent evidence, e.g. a reference"), PLAIN
    ]
    holder_digest: HexDigest | None = Field(default=None, description="`hd` of the token the holder showed")
    holder_id: Annotated[str, Field(min_length=1, max_length=64), PLAIN] | None = Field(
        default=None, description="the applicant's resident ID number or USCC, checked against the holder"
    )


class DisclosedLicence(BaseModel):
    """What an approval system may see of a licence: public fields, never the holder's name or number."""

    id: str
    identifier: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    issuer: str
    issuer_name: str
    holder_kind: str
    status: Status
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    fields: dict[str, Any]


class UseOut(BaseModel):
    """The recorded use (accepted or refused): its id, the leaf it was logged at, and the proof that it was logged.

    The same members in the local (`POST /v1/licences/{id}/verify`) and the cross-region answer
    (`POST /v1/federation/verify`, whose `use` adds the checkpoint note its proof is against): `invocation_id` and
    `use_id` are one id under the two names the answers had before they were aligned."""

    invocation_id: str = Field(description="the use's id (the same as `use_id`)")
    use_id: str = Field(description="the use's id (the same as `invocation_id`)")
    leaf_index: int = Field(description="the leaf the use was logged at")
    outcome: Literal["accepted", "refused"]
    recorded: bool = Field(default=True, description="whether the use was recorded on this region's ledger")
    inclusion_proof: InclusionProofOut | None = Field(
        default=None, description="RFC 9162 inclusion proof of the use's leaf under the answer's checkpoint"
    )

    @model_validator(mode="before")
    @classmethod
    def _one_id(cls, data: Any) -> Any:
        """Either name of the id fills the other (older producers set one of them)."""
        if isinstance(data, dict):
            given = data.get("invocation_id") or data.get("use_id")
            if given is not None:
                data = {
                    **data,
                    "invocation_id": data.get("invocation_id") or given,
                    "use_id": data.get("use_id") or given,
                }
        return data


class VerifyOut(BaseModel):
    """The answer to a verification: outcome, the disclosed licence, the proof that its version is logged, and the
    proof that this use was logged, both under one signed checkpoint (its tree covers the use's leaf)."""

    outcome: Literal["accepted", "refused"]
    valid: bool = Field(description="true exactly when the use was accepted (as `valid` of the cross-region answer)")
    refusal_reason: str | None
    status: Status
    licence: DisclosedLicence
    leaf_index: int = Field(description="leaf that minted the licence's current version")
    inclusion_proof: InclusionProofOut = Field(description="proof of `leaf_index` under `checkpoint`")
    checkpoint: CheckpointOut = Field(description="signed checkpoint covering the minting leaf and the use's leaf")
    use: UseOut
    status_proven: StatusProvenOut | None = None


class TokenIn(_Request):
    """A licence token: the QR URL, its `/v/<token>` path, or the bare base64url token."""

    token: Annotated[str, Field(min_length=1, max_length=4096)]  # parsed strictly (422 `malformed-token`), never stored


# The values of `verification.Verdict`, spelled out for the OpenAPI document (tests/verification keeps them equal).
Verdict = Literal[
    "valid", "not_yet_valid", "expired", "suspended", "revoked", "superseded", "invalid", "unknown", "other_region"
]


class PublicLicence(BaseModel):
    """What anyone holding the QR code may see: type, issuer, validity, masked holder name; nothing identifying."""

    type_name_zh: str
    type_name_en: str
    issuer_name: str
    licence_version: int
    current_version: int
    valid_from: datetime
    valid_until: datetime | None
    holder_name_masked: str | None


class PublicVerdict(BaseModel):
    """The public answer for a token (also the data behind the /v/<token> page)."""

    verdict: Verdict
    valid: bool
    reason: str
    reason_code: str
    licence: PublicLicence | None
    provenance_url: str | None
    status_proven: StatusProvenOut | None = None


class TokenCheckOut(BaseModel):
    """A checked token for approval systems and auditors (no use recorded)."""

    verdict: Verdict
    valid: bool
    reason: str
    reason_code: str
    token_version: int | None
    licence: DisclosedLicence | None
    leaf_index: int | None = Field(description="the token's minting leaf (`li`)")
    status_proven: StatusProvenOut | None = None
    inclusion_proof: InclusionProofOut | None
    checkpoint: CheckpointOut | None


class PdfCheckItem(BaseModel):
    """One check of a sealed PDF: passed (true), failed (false, with a stable code) or not evaluated (null)."""

    ok: bool | None
    code: str | None
    detail: str


class SealOut(BaseModel):
    """Who sealed the PDF and when (from its signature and RFC 3161 time-stamp)."""

    signer: str | None
    signing_time: datetime | None
    certificate_serial: str | None


class PdfCheckOut(BaseModel):
    """A checked sealed licence PDF: the verdict, every check, the seal, and the licence it shows as it is now."""

    verdict: Literal["valid", "invalid"]
    valid: bool
    reason: str
    sha256: str
    checks: dict[str, PdfCheckItem] = Field(
        description="intact, trusted_chain, certificate, timestamp, whole_document, on_ledger, licence_status"
    )
    seal: SealOut | None
    identifier: str | None = Field(description="the licence identifier the PDF names")
    licence: DisclosedLicence | None
    sealed_version: int | None = Field(description="the licence version the PDF shows")


# -- audit ------------------------------------------------------------------------------------------------------------
# The history shows each logged event in a documented form, one model per kind, not the event store's JSON (its
# `_type_` wrappers, `originator_*` members, sealed holder blob). `verify_api.audit_routes.history_event` is the one
# mapping from stored events to these; the stored bytes stay what the leaf commits to (`GET /v1/log/leaves/{index}`).


class IssuedEvent(BaseModel):
    """A licence was minted (制证), or an existing one imported (存量证照); `fields` are its public fields."""

    kind: Literal["issued"] = "issued"
    identifier: str
    licence_version: int
    type_code: str
    issuer: str = Field(description="USCC of the issuing department")
    holder_kind: str
    holder_digest: str = Field(description="salted holder digest (hex); the holder's name and number stay sealed")
    valid_from: datetime
    valid_until: datetime | None
    fields: dict[str, Any]
    imported: bool


class RenewedEvent(BaseModel):
    """The licence was renewed (换证/延续): a new validity period and licence version."""

    kind: Literal["renewed"] = "renewed"
    identifier: str
    licence_version: int
    valid_from: datetime
    valid_until: datetime
    actor: str = Field(description="USCC of the department that acted")


class AmendedEvent(BaseModel):
    """Registered particulars changed (变更): the public field changes, and whether the sealed holder data changed."""

    kind: Literal["amended"] = "amended"
    identifier: str
    licence_version: int
    changes: dict[str, Any]
    holder_data_changed: bool
    actor: str = Field(description="USCC of the department that acted")


class SuspendedEvent(BaseModel):
    """The licence was suspended (暂扣/中止)."""

    kind: Literal["suspended"] = "suspended"
    reason: str
    actor: str = Field(description="USCC of the department that acted")


class ReinstatedEvent(BaseModel):
    """A suspension was lifted."""

    kind: Literal["reinstated"] = "reinstated"
    reason: str
    actor: str = Field(description="USCC of the department that acted")


class RevokedEvent(BaseModel):
    """The licence stopped being valid for good: 注销 (`voluntary`) or 吊销 (`penalty`)."""

    kind: Literal["revoked"] = "revoked"
    reason: str
    revocation: str = Field(description="`voluntary` (注销) or `penalty` (吊销)")
    actor: str = Field(description="USCC of the department that acted")


class ReminderEvent(BaseModel):
    """The expiry reminder of one stage (days ahead) was queued for the current validity period."""

    kind: Literal["reminder"] = "reminder"
    stage: int
    channels: list[str]
    valid_until: datetime


class SealedEvent(BaseModel):
    """A sealed PDF of a licence version was handed out; its SHA-256 (hex, of the whole file) is on the ledger."""

    kind: Literal["sealed"] = "sealed"
    licence_version: int
    pdf_sha256: str


class InvokedEvent(BaseModel):
    """A use (用证): an approval system relied on — or was refused — the licence for a matter. `consent` is the
    holder's consent evidence as the approval system gave it: the record auditors check a use against."""

    kind: Literal["invoked"] = "invoked"
    identifier: str
    licence_version: int
    verifier: str = Field(description="the approval system (its API key's principal)")
    matter_code: str = Field(description="事项编码")
    purpose: str
    consent: str
    holder_checked: bool = Field(description="whether the applicant was checked against the holder")
    outcome: Literal["accepted", "refused"]
    refusal_reason: str | None


HistoryEvent = Annotated[
    IssuedEvent
    | RenewedEvent
    | AmendedEvent
    | SuspendedEvent
    | ReinstatedEvent
    | RevokedEvent
    | ReminderEvent
    | SealedEvent
    | InvokedEvent,
    Field(discriminator="kind"),
]
"""One logged event of a licence in its documented form, told apart by `kind`."""


class HistoryEventOut(BaseModel):
    """One logged event of a licence, with its inclusion proof against the stated checkpoint (null if newer)."""

    leaf_index: int
    kind: str
    recorded_at: str
    licence_version: int
    topic: str = Field(description="the event's topic, part of the leaf data (formats.md §1.1)")
    event: HistoryEvent | None = Field(
        description="the event by kind (null only on the public provenance page, which shows no content)"
    )
    leaf_hash: str = Field(description="base64 RFC 9162 leaf hash of the event's envelope")
    inclusion_proof: InclusionProofOut | None


class HistoryOut(BaseModel):
    """A licence's whole trail, every event proven against one signed checkpoint."""

    licence_id: str
    identifier: str
    checkpoint: CheckpointOut
    events: list[HistoryEventOut]
