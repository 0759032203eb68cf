"""Auditors: licence history with inclusion proofs, as JSON and as a page (issue 6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
