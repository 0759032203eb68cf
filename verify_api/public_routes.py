"""Citizens: the QR landing page /v/<token> and /v1/public/verify (issue 6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
