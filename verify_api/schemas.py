"""Request and response schemas of the API (pydantic), kept apart from storage rows and domain views.

Response models say exactly what a role gets: a verifier's answer has no holder name or ID number, a public answer no
identifier of the holder at all. Requests forbid unknown members, so a typo is a 422 naming it, not a silent no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Text200 = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
FieldValue = Annotated[str, Field(max_length=2000)] | int
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

    type_code: Annotated[str, Field(min_length=1, max_length=64, description="catalogue type code or key")]
    holder_id: Annotated[str, Field(min_length=1, max_length=64, description="resident ID number or USCC")]
    holder_name: Annotated[str, Field(min_length=1, max_length=200)]
    fields: dict[Annotated[str, Field(max_length=64)], FieldValue] = Field(default_factory=dict, max_length=64)
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None


class RenewIn(_Request):
    """Renewal: a new validity period (default: the catalogue's rule from today)."""

    valid_until: AwareDatetime | None = None


class AmendIn(_Request):
    """Amendment of registered particulars (and, for a citizen, the holder's name)."""

    changes: dict[Annotated[str, Field(max_length=64)], FieldValue] = Field(default_factory=dict, max_length=64)
    holder_name: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class SuspendIn(_Request):
    """Suspension (暂扣) with its reason."""

    reason: Reason


class ReinstateIn(_Request):
    """Lifting a suspension."""

    reason: Annotated[str, Field(max_length=500)] = ""


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
    consent: Annotated[str, Field(min_length=1, max_length=1000, description="consent evidence, e.g. a reference")]
    holder_digest: HexDigest | None = Field(default=None, description="`hd` of the token the holder showed")
    holder_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
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
    """The recorded use: its id and the leaf it was logged at."""

    invocation_id: str
    leaf_index: int


class VerifyOut(BaseModel):
    """The answer to a verification: outcome, the disclosed licence, and the proof that its version is logged."""

    outcome: Literal["accepted", "refused"]
    refusal_reason: str | None
    status: Status
    licence: DisclosedLicence
    leaf_index: int = Field(description="leaf that minted the licence's current version")
    inclusion_proof: InclusionProofOut
    checkpoint: CheckpointOut
    use: UseOut
    status_proven: StatusProvenOut | None = None


class TokenIn(_Request):
    """A licence token: the QR URL, its `/v/<token>` path, or the bare base64url token."""

    token: Annotated[str, Field(min_length=1, max_length=4096)]


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


class HistoryEventOut(BaseModel):
    """One logged event of a licence, with its inclusion proof against the stated checkpoint (null if newer)."""

    leaf_index: int
    kind: str
    recorded_at: str
    licence_version: int
    topic: str
    event: dict[str, Any] = Field(description="the event as stored; personal data is sealed (AES-GCM)")
    leaf_hash: str = Field(description="base64 RFC 9162 leaf hash of the event's envelope")
    inclusion_proof: InclusionProofOut | None


class HistoryOut(BaseModel):
    """A licence's whole trail, every event proven against one signed checkpoint."""

    licence_id: str
    identifier: str
    checkpoint: CheckpointOut
    events: list[HistoryEventOut]
