"""The licence catalogue (证照目录) for integrators: `GET /v1/catalogue`, public JSON.

The same documents as `trustledger catalogue list|show --json` (`licences.catalogue.describe`): every licence type with
its code and catalogue key (either names the type in a request), names, holder kind, validity, renewal window and
fields with labels in Chinese and English; every department with its USCC, names and the types it may issue. The
catalogue changes only when the region publishes new data, so a cache may keep it a few minutes.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from licences.catalogue import catalogue_json
from verify_api.deps import RegionDep

router = APIRouter(tags=["catalogue"])
MAX_AGE = 300  # seconds: a republished catalogue reaches clients within this


class CatalogueRegion(BaseModel):
    code: str = Field(description="6-digit administrative code (GB/T 2260)")
    name_zh: str
    name_en: str


class DepartmentRef(BaseModel):
    key: str = Field(description="catalogue key, accepted wherever a USCC is")
    uscc: str = Field(description="unified social credit code (GB 32100)")
    name_zh: str
    name_en: str


class CatalogueField(BaseModel):
    name: str = Field(description="the key in a licence's `fields`")
    label_zh: str
    label_en: str
    type: Literal["string", "date", "int"] = Field(description="dates are YYYY-MM-DD")
    required: bool
    personal: bool = Field(description="sealed with the holder data, never shown publicly")
    max_length: int | None = Field(None, description="strings only")
    choices: list[str] | None = None
    default: str | int | None = Field(None, description="taken when the field is left out")
    role: str | None = Field(None, description="what the value must agree with (birth_date, sex, past_date, …)")


class Validity(BaseModel):
    kind: Literal["fixed_years", "no_expiry"]
    years: int | None = None


class Reminders(BaseModel):
    lead_days: list[int]
    channels: list[str]


class CatalogueType(BaseModel):
    code: str = Field(description="licence type code (the identifier's type field)")
    key: str = Field(description="catalogue key, accepted wherever a type code is")
    name_zh: str
    name_en: str
    holder_kind: Literal["citizen", "organisation", "either"]
    issuing_departments: list[DepartmentRef]
    one_per_holder: bool
    validity: Validity
    renewal_window_days: int = Field(description="renewal is possible this many days before expiry")
    reminders: Reminders
    required_fields: list[CatalogueField]
    optional_fields: list[CatalogueField]


class CatalogueDepartment(DepartmentRef):
    region_code: str
    licence_types: list[str] = Field(description="type codes it may issue")


class CatalogueDoc(BaseModel):
    region: CatalogueRegion
    licence_types: list[CatalogueType]
    departments: list[CatalogueDepartment]


@router.get("/v1/catalogue", response_model=CatalogueDoc, response_model_exclude_none=True, operation_id="getCatalogue")
def catalogue(region: RegionDep, response: Response) -> CatalogueDoc:
    """The region's licence catalogue as published on its ledger: types with their fields, and departments."""
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return CatalogueDoc.model_validate(catalogue_json(region.catalogue))
