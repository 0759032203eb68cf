"""The log read API (DESIGN §4): checkpoint, C2SP tlog-tiles, JSON proofs and leaves."""

from __future__ import annotations

import base64
import re
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from trustledger.region import Region

router = APIRouter(tags=["log"])
_TILE_INDEX = re.compile(r"((?:x\d{3}/)*)(\d{3})(?:\.p/(\d{1,3}))?")
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
MAX_INDEX = 2**53 - 1  # indexes and sizes stay in the I-JSON range; larger input is a 4xx, not a driver overflow
Index = Annotated[int, Query(ge=0, le=MAX_INDEX)]


def get_region(request: Request) -> Region:
    """The region held by the running app."""
    region: Region = request.app.state.region
    return region


RegionDep = Annotated[Region, Depends(get_region)]


class InclusionProof(BaseModel):
    """RFC 9162 §2.1.3 inclusion proof."""

    leaf_index: int
    tree_size: int
    hashes: list[str]


class ConsistencyProof(BaseModel):
    """RFC 9162 §2.1.4 consistency proof."""

    first: int
    second: int
    hashes: list[str]


def parse_tile_path(path: str) -> tuple[int, int | None]:
    """C2SP tlog-tiles index path `x001/x234/067[.p/W]` → (index, width or None); strict."""
    m = _TILE_INDEX.fullmatch(path)
    if not m:
        raise HTTPException(404, "not a tile path")
    digits = "".join(g.lstrip("x") for g in m.group(1).split("/") if g) + m.group(2)
    if m.group(1) and m.group(1).startswith("x000"):
        raise HTTPException(404, "tile index must not have leading zero groups")
    width = None
    if m.group(3) is not None:
        width = int(m.group(3))
        if not 1 <= width <= 255 or str(width) != m.group(3):
            raise HTTPException(404, "partial width must be 1..255")
    if int(digits) > MAX_INDEX:
        raise HTTPException(404, "tile index out of range")
    return int(digits), width


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(region: RegionDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint as a signed note)."""
    cp = region.log.latest_checkpoint()
    note = cp.note if cp is not None else region.sign_checkpoint()
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@router.get("/tile/entries/{path:path}")
def entry_bundle(path: str, region: RegionDep) -> Response:
    """C2SP tlog-tiles entry bundle."""
    index, width = parse_tile_path(path)
    data = region.log.entry_bundle(index, width)
    return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)


@router.get("/tile/{level}/{path:path}")
def hash_tile(level: int, path: str, region: RegionDep) -> Response:
    """C2SP tlog-tiles hash tile."""
    if not 0 <= level <= 63:
        raise HTTPException(404, "no such level")
    index, width = parse_tile_path(path)
    data = region.log.tile(level, index, width)
    return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)


@router.get("/v1/log/proof/inclusion", response_model=InclusionProof)
def inclusion(region: RegionDep, index: Index, tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX)]) -> InclusionProof:
    """Inclusion proof of leaf `index` in the tree of `tree_size` leaves."""
    n, proof = region.log.inclusion_proof(index, tree_size)
    return InclusionProof(leaf_index=index, tree_size=n, hashes=_b64(proof))


@router.get("/v1/log/proof/consistency", response_model=ConsistencyProof)
def consistency(region: RegionDep, first: Index, second: Index) -> ConsistencyProof:
    """Consistency proof between two tree sizes."""
    return ConsistencyProof(first=first, second=second, hashes=_b64(region.log.consistency_proof(first, second)))


@router.get("/v1/log/leaves/{index}")
def leaf(index: Annotated[int, Path(ge=0, le=MAX_INDEX)], region: RegionDep) -> Response:
    """The leaf data of leaf `index` (canonical JSON envelope)."""
    data, _ = region.log.leaf(index)
    return Response(data, media_type="application/json", headers=_IMMUTABLE)
