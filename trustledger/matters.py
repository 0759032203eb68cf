"""Composition of the matter catalogue (事项目录) and licence-free lookups for an opened region.

`init` publishes the packaged matter catalogue after the licence catalogue it refers to (`publish_matters`); the CLI
and the benchmark build their services here. The HTTP adapter builds the same two from the services it is handed.
"""

from __future__ import annotations

from licences.matter_lookup import MatterLookups
from licences.matters import MatterCatalogue, packaged_matter_documents
from trustledger.region_core import RegionCore


def matter_catalogue(region: RegionCore) -> MatterCatalogue:
    """The region's published matter catalogue."""
    return MatterCatalogue(region.licences.recording, region.licences.store, region.registry)


def matter_lookups(region: RegionCore) -> MatterLookups:
    """Licence-free lookups over the region's licences and matter catalogue."""
    return MatterLookups(region.licences, matter_catalogue(region))


def publish_matters(region: RegionCore) -> int:
    """Publish the packaged matter catalogue's new or changed entries on the region's ledger; returns the count."""
    return matter_catalogue(region).publish(packaged_matter_documents())
