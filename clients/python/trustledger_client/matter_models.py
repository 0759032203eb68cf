"""The response models of licence-free handling (免证办): the matter catalogue and a lookup's answer.

Kept beside `trustledger_client.models` (which they build on) and served by the server as these very classes
(`verify_api.matter_routes`), so the two cannot drift apart. pydantic and the standard library only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from trustledger_client.models import CheckpointOut, InclusionProofOut, Status, StatusProvenOut, UseOut


class MatterDepartment(BaseModel):
    """A department that handles the matter."""

    key: str = Field(description="catalogue key")
    uscc: str = Field(description="unified social credit code (GB 32100)")
    name_zh: str
    name_en: str


class MatterLicenceType(BaseModel):
    """A licence type that replaces a material of the matter, with the fields the matter needs from it."""

    type_code: str = Field(description="licence type code")
    type_key: str = Field(description="catalogue key of the type")
    name_zh: str
    name_en: str
    fields: list[str] = Field(description="the only fields of such a licence a lookup for this matter discloses")


class MatterOut(BaseModel):
    """A matter (事项) of the matter catalogue, as published on the region's ledger."""

    code: str = Field(description="matter code (事项编码)")
    name_zh: str
    name_en: str
    departments: list[MatterDepartment]
    licence_types: list[MatterLicenceType]


class MatterList(BaseModel):
    """The region's matter catalogue."""

    matters: list[MatterOut]


class MatterLicenceOut(BaseModel):
    """One licence of the holder for the matter: its status, the fields the matter needs (none unless the use was
    accepted), the proof that its current version is logged and the recorded use with the proof of its leaf."""

    id: str
    identifier: str
    type_code: str
    type_name_zh: str
    type_name_en: str
    issuer: str
    issuer_name: str
    status: Status
    licence_version: int
    valid_from: datetime
    valid_until: datetime | None
    outcome: Literal["accepted", "refused"]
    refusal_reason: str | None
    fields: dict[str, str | int] = Field(description="only the fields the matter needs; empty when refused")
    leaf_index: int = Field(description="leaf that minted the licence's current version")
    inclusion_proof: InclusionProofOut = Field(description="proof of `leaf_index` under the answer's checkpoint")
    use: UseOut
    status_proven: StatusProvenOut
    source_region: str = Field(description="the region (administrative code) whose ledger holds the licence")


class PrefillValue(BaseModel):
    """A needed field for a form, and the licence it came from."""

    value: str | int
    licence_id: str
    identifier: str
    type_code: str


class PeerMatterLicenceOut(MatterLicenceOut):
    """A peer region's licence as this region checked it: proofs against the peer's checkpoint, fields narrowed to
    what this region's matter needs and kept only for a licence proven valid here."""

    proven_valid: bool = Field(description="the peer's status map proves it active, and it is within its validity")
    source_origin: str = Field(description="the log origin of the peer region")


class PeerMatterOut(BaseModel):
    """What one peer region contributed to a lookup across regions, or why it contributed nothing."""

    origin: str
    region: str | None = Field(description="the peer's administrative code, from its verified trust list")
    error: str | None = Field(description="why the peer's answer was set aside (unreachable, a failed check)")
    licences: list[PeerMatterLicenceOut]


class MatterLookupOut(BaseModel):
    """The answer to a licence-free lookup: the holder's licences of the matter's types (newest first), the needed
    fields flattened for a form, and the checkpoint every proof in the answer verifies against (null when the holder
    has none: then nothing was recorded)."""

    matter: str = Field(description="matter code")
    licences: list[MatterLicenceOut]
    prefill: dict[str, PrefillValue] = Field(
        description="field name → value with its licence; of two licences giving one field, the newest accepted"
    )
    checkpoint: CheckpointOut | None = Field(
        description="signed checkpoint covering every minting leaf and every use's leaf of the answer"
    )
    peers: list[PeerMatterOut] | None = Field(
        default=None, description="with `across_regions`: what each peer region asked contributed (docs/matters.md)"
    )
