"""Shared FastAPI dependencies: the region held by the app and the services it wires."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from licences.application import LicenceService
from licences.registry import RegistryService
from verify_api.evidence import Evidence
from verify_api.services import RegionServices


def get_region(request: Request) -> RegionServices:
    """The region the app was started with."""
    region: RegionServices = request.app.state.region
    return region


def get_licences(request: Request) -> LicenceService:
    """The region's licence service."""
    return get_region(request).licences


def get_registry(request: Request) -> RegistryService:
    """The region's registry of issuers and keys."""
    return get_region(request).registry


RegionDep = Annotated[RegionServices, Depends(get_region)]
LicencesDep = Annotated[LicenceService, Depends(get_licences)]
RegistryDep = Annotated[RegistryService, Depends(get_registry)]


def get_evidence(request: Request) -> Evidence:
    """Checkpoint signing and inclusion proofs for answers (the log key loaded once per app)."""
    evidence: Evidence = request.app.state.evidence
    return evidence


EvidenceDep = Annotated[Evidence, Depends(get_evidence)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="a retried write with the same key returns the first result and writes nothing; "
        "the same key with a different request is a 422 `idempotency-conflict`",
    ),
]
