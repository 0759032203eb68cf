"""Request and response schemas of cross-region verification (`POST /v1/federation/verify`, `GET
/v1/federation/status`): what an approval system sends and gets back, whichever region minted the licence."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from verify_api.schemas import StatusProvenOut, UseOut

CrossVerdictName = Literal["valid", "valid_unconfirmed", "unconfirmed", "invalid", "refused"]
StatusWord = Literal[
    "valid", "not_yet_valid", "expired", "suspended", "revoked", "superseded", "invalid", "unknown", "other_region"
]


class FederationVerifyIn(BaseModel):
    """A licence token of any region (QR URL or bare), and the use: matter (事项), purpose, consent evidence."""

    model_config = ConfigDict(extra="forbid")

    token: Annotated[str, Field(min_length=1, max_length=4096, description="QR URL, /v/<token> path or token")]
    matter_code: Annotated[str, Field(pattern=r"^[0-9A-Za-z._-]{1,64}$", description="事项编码")]
    purpose: Annotated[str, Field(min_length=1, max_length=500)]
    consent: Annotated[str, Field(min_length=1, max_length=1000, description="consent evidence, e.g. a reference")]


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
