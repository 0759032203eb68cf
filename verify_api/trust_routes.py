"""The region's signed trust list: /v1/trust-list (issue 4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
