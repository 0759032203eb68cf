"""Issuing departments and approval systems: /v1/licences (issue 6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
