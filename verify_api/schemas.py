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
)

from ledger.tiles import MAX_INDEX
from licences.errors import InvalidFieldError
from licences.values import bounded, control_character

# The API's response models are defined once, in the client distribution (clients/python); re-exported here.
from trustledger_client.models import AmendedEvent as AmendedEvent
from trustledger_client.models import CheckpointOut as CheckpointOut
from trustledger_client.models import DisclosedLicence as DisclosedLicence
from trustledger_client.models import Health as Health
from trustledger_client.models import HistoryEvent as HistoryEvent
from trustledger_client.models import HistoryEventOut as HistoryEventOut
from trustledger_client.models import HistoryOut as HistoryOut
from trustledger_client.models import InclusionProofOut as InclusionProofOut
from trustledger_client.models import InvokedEvent as InvokedEvent
from trustledger_client.models import IssuedEvent as IssuedEvent
from trustledger_client.models import LicenceOut as LicenceOut
from trustledger_client.models import LicencePage as LicencePage
from trustledger_client.models import PdfCheckItem as PdfCheckItem
from trustledger_client.models import PdfCheckOut as PdfCheckOut
from trustledger_client.models import Problem as Problem
from trustledger_client.models import PublicLicence as PublicLicence
from trustledger_client.models import PublicVerdict as PublicVerdict
from trustledger_client.models import ReinstatedEvent as ReinstatedEvent
from trustledger_client.models import ReminderEvent as ReminderEvent
from trustledger_client.models import RenewedEvent as RenewedEvent
from trustledger_client.models import RevokedEvent as RevokedEvent
from trustledger_client.models import SealedEvent as SealedEvent
from trustledger_client.models import SealOut as SealOut
from trustledger_client.models import SourceOut as SourceOut
from trustledger_client.models import Status as Status
from trustledger_client.models import StatusProvenOut as StatusProvenOut
from trustledger_client.models import SuspendedEvent as SuspendedEvent
from trustledger_client.models import TokenCheckOut as TokenCheckOut
from trustledger_client.models import UseOut as UseOut
from trustledger_client.models import Verdict as Verdict
from trustledger_client.models import VerifyOut as VerifyOut
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


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- operations -------------------------------------------------------------------------------------------------------


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


class TokenIn(_Request):
    """A licence token: the QR URL, its `/v/<token>` path, or the bare base64url token."""

    token: Annotated[str, Field(min_length=1, max_length=4096)]  # parsed strictly (422 `malformed-token`), never stored
