"""Wiring of the demo region (`init --demo`, `serve` on a fresh home): the content itself lives in `demo.region`."""

from __future__ import annotations

from demo.region import add_demo_licences
from trustledger.region import Region


def add_demo(region: Region) -> dict[str, str]:
    """Add the demo licences (idempotent); returns {demo name: licence id} and signs a fresh checkpoint."""
    ids = add_demo_licences(region.licences, region.licence_store, region.clock())
    region.sign_checkpoint()
    return ids
