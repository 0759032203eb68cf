"""The response models of the TrustLedger API (pydantic): what each operation answers, as the client returns it.

This module is the one definition of these models: the server documents and serves them through
`verify_api.schemas` and `verify_api.federation_schemas`, and an approval system gets them with the client alone.
It imports pydantic and the standard library only. A model's docstring and `Field` descriptions are its description
in the OpenAPI document: change them as deliberately as the members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# -- operations --------------------------------------------------------------------------------------------------------


Status = Literal["valid", "not_yet_valid", "expired", "suspended", "revoked"]


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


# -- log evidence ------------------------------------------------------------------------------------------------------


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


# -- licences (issuing departments, auditors) --------------------------------------------------------------------------


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


# -- verification (approval systems) -----------------------------------------------------------------------------------


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


# The values of `verification.Verdict`, spelled out for the OpenAPI document (tests/verification keeps them equal).
Verdict = Literal[
    "valid", "not_yet_valid", "expired", "suspended", "revoked", "superseded", "invalid", "unknown", "other_region"
]


class PublicLicence(BaseModel):
    """What anyone holding the QR code may see: what binds it to the paper and nothing identifying a person.

    The type, issuer and validity; the identifier printed on the paper (so the citizen compares the two); the
    holder's name (an organisation's in full, its name being public (公示); a person's masked, 张*三); for a revoked
    licence, whether it was cancelled (注销) or revoked as a penalty (吊销). Never an ID number or a field value.
    """

    type_name_zh: str
    type_name_en: str
    issuer_name: str
    identifier: str = Field(description="the licence identifier (证照标识) of the scanned version, as on its paper")
    licence_version: int
    current_version: int
    valid_from: datetime
    valid_until: datetime | None
    holder_kind: Literal["citizen", "organisation"]
    holder_name: str | None = Field(
        description="an organisation's name in full, a person's masked (张*三); null once the holder's data is erased"
    )
    holder_name_masked: str | None = Field(description="the holder's name masked (郑州**有限公司, 张*三), as before")
    revocation_kind: Literal["voluntary", "penalty"] | None = Field(
        default=None, description="for a revoked licence: voluntary (注销) or penalty (吊销), as its event records"
    )


class PublicVerdict(BaseModel):
    """The public answer for a token (also the data behind the /v/<token> page)."""

    verdict: Verdict
    valid: bool
    reason: str
    reason_code: str
    checked_at: datetime = Field(description="when the service checked the token (UTC; the page shows Beijing time)")
    licence: PublicLicence | None
    provenance_url: str | None
    status_proven: StatusProvenOut | None = None


class SourceOut(BaseModel):
    """Whose ledger a verdict rests on: `region` is "local" for this region's own licences, or the log origin of the
    peer region that minted (or sealed) it, checked here through federation; `peer_url` is where that region serves
    its proofs. Local and cross-region verdicts share one shape; this says which one it was."""

    region: str = Field(default="local", description='"local", or the issuing peer region\'s log origin')
    peer_url: str | None = Field(default=None, description="the issuing peer region's base URL (null when local)")
    cross_region_verdict: str | None = Field(
        default=None,
        description="for a peer's licence token: the federation bottom line "
        "(valid, valid_unconfirmed, unconfirmed, invalid, refused); null when local",
    )
    reasons: list[FindingOut] = Field(default_factory=list, description="every finding, in check order")


class TokenCheckOut(BaseModel):
    """A checked token for approval systems and auditors (no use recorded); a peer region's token is checked
    through federation and answered in this same shape (`source` names the peer)."""

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
    source: SourceOut = Field(default_factory=SourceOut, description="whose ledger the verdict rests on")


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
    source: SourceOut = Field(default_factory=SourceOut, description="whose seal PKI and ledger the verdict rests on")


# -- cross-region verification (POST /v1/federation/verify) ------------------------------------------------------------


CrossVerdictName = Literal["valid", "valid_unconfirmed", "unconfirmed", "invalid", "refused"]


StatusWord = Literal[
    "valid", "not_yet_valid", "expired", "suspended", "revoked", "superseded", "invalid", "unknown", "other_region"
]


class FindingOut(BaseModel):
    """One reason behind the verdict: a stable code and the detail."""

    code: str
    detail: str


class CrossLicenceOut(BaseModel):
    """What the authentic token says (absent for a token that failed its signature or key checks)."""

    identifier: str
    type_code: str
    issuer: str
    issuer_name: str
    licence_version: int
    valid_from: str
    valid_until: str | None
    leaf_index: int


class PeerStatusOut(BaseModel):
    """A region's word on one of its own licence tokens now (`GET /v1/federation/status`); in a cross-region verdict,
    the status of the licence version as the issuing region's status map proves it (`status_proven` says where)."""

    origin: str
    verdict: StatusWord
    reason_code: str
    current_version: int | None


class TrustListRef(BaseModel):
    """The peer trust list the verdict rests on."""

    version: int
    sha256: str
    next_update: str


class InclusionOut(BaseModel):
    """The minting event's inclusion proof under a checkpoint the verifying region checked itself."""

    leaf_index: int
    tree_size: int
    hashes: list[str]
    checkpoint: str
    recorded_at: str | None


class AcceptanceOut(BaseModel):
    """The acceptance rule version applied: the licence types recognised from that region."""

    origin: str
    version: int
    licence_types: list[str]
    set_at: str
    note: str


class UseRecordOut(UseOut):
    """Where this use was recorded on the verifying region's ledger: the members of the local answer's `use`
    (`verify_api.schemas.UseOut`), and the verifying region's checkpoint note its `inclusion_proof` is against (for
    a peer's licence `inclusion.checkpoint` is the issuing region's, so the use's proof carries its own)."""

    # Producers that predate the alignment name only `use_id`; the validator of `UseOut` copies it here, so the
    # default is never served, and the published schema still marks every member as always present.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    invocation_id: str = Field(default="", description="the use's id (the same as `use_id`)")
    checkpoint: str | None = Field(
        default=None, description="the verifying region's signed checkpoint note covering the use's leaf"
    )


class FederationVerifyOut(BaseModel):
    """The verdict with its reasons, and everything it rests on; `local` is true for this region's own licences."""

    verdict: CrossVerdictName
    valid: bool
    origin: str
    local: bool
    checked_at: str
    reasons: list[FindingOut]
    licence: CrossLicenceOut | None
    status: PeerStatusOut | None
    status_proven: StatusProvenOut | None = Field(
        default=None, description="the issuing region's checkpoint the status was proven against (DESIGN §4b)"
    )
    trust_list: TrustListRef | None
    inclusion: InclusionOut | None
    acceptance: AcceptanceOut | None
    use: UseRecordOut | None
    source: SourceOut = Field(default_factory=SourceOut, description="whose ledger the verdict rests on")


# -- audit -------------------------------------------------------------------------------------------------------------
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
