"""Witnessing and federation: tlog-witness add-checkpoint, peers, fork alarms (issue 7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
