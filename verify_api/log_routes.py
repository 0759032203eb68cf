"""The log read API (DESIGN §4): checkpoint, C2SP tlog-tiles, JSON proofs and leaves."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from ledger import tiles
from ledger.errors import LedgerError
from ledger.ids import LeafIndex
from verify_api import problems as p
from verify_api.params import CANONICAL
from verify_api.problems import NOT_FOUND, ProblemError
from verify_api.schemas import BUSY, QUERY, problem_responses
from verify_api.services import RegionServices

router = APIRouter(tags=["log"])
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
MAX_INDEX = tiles.MAX_INDEX  # indexes and sizes stay in the I-JSON range; larger input is a 4xx, not a driver overflow
Index = Annotated[int, Query(ge=0, le=MAX_INDEX), CANONICAL]  # one spelling per number: `01`, `+1`, `1_0` are 422


def get_region(request: Request) -> RegionServices:
    """The region held by the running app."""
    region: RegionServices = request.app.state.region
    return region


RegionDep = Annotated[RegionServices, Depends(get_region)]


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


def parse_tile_path(request: Request, path: str, level: str = "") -> tuple[int, int | None]:
    """(index, width or None) of a C2SP tlog-tiles index path `x001/x234/067[.p/W]`; a 404 problem unless it is the
    one canonical spelling (`ledger.tiles` parses it) and the request spelled it so, byte for byte.

    The parameter alone cannot tell: Starlette matches `{path:path}` with `.*$`, and `$` also matches before a final
    newline (`…/000.p/64%0A` arrives here as `000.p/64`), and it decodes `%2F`, `%30` before routing (`x001%2F002`,
    `%30%30%30`). So the raw request path must end in exactly the canonical text as well (`level`, already checked
    by `parse_tile_level`, included)."""
    try:
        index, width = tiles.parse_index_path(path)
    except LedgerError as exc:
        raise ProblemError(NOT_FOUND, str(exc)) from exc
    raw = request.scope.get("raw_path") or str(request.scope["path"]).encode()
    tail = f"/{level}/{path}" if level else f"/{path}"
    if not raw.endswith(tail.encode("ascii")):
        raise ProblemError(NOT_FOUND, "not a tile path: only the canonical spelling names a tile")
    return index, width


def parse_tile_level(text: str) -> int:
    """A tile level 0-63 in canonical decimal; a 404 problem otherwise (`+1`, `01`, ` 1` name no tile)."""
    try:
        return tiles.parse_level(text)
    except LedgerError as exc:
        raise ProblemError(NOT_FOUND, str(exc)) from exc


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get(
    "/checkpoint",
    response_class=PlainTextResponse,
    operation_id="getCheckpoint",
    responses=problem_responses(*BUSY),
)
def checkpoint(region: RegionDep) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP tlog-checkpoint as a signed note)."""
    cp = region.log.latest_checkpoint()
    note = cp.note if cp is not None else region.sign_checkpoint()
    return PlainTextResponse(note, headers={"Cache-Control": "no-cache"})


@router.get(
    "/tile/entries/{path:path}",
    operation_id="getEntryBundle",
    responses=problem_responses(*BUSY, p.NOT_FOUND),
)
def entry_bundle(request: Request, path: str, region: RegionDep) -> Response:
    """C2SP tlog-tiles entry bundle."""
    index, width = parse_tile_path(request, path)
    data = region.log.entry_bundle(index, width)
    return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)


@router.get(
    "/tile/{level}/{path:path}",
    operation_id="getHashTile",
    responses=problem_responses(*BUSY, p.NOT_FOUND),
)
def hash_tile(
    request: Request,
    level: Annotated[str, Path(description="tile level, 0-63 in canonical decimal")],
    path: str,
    region: RegionDep,
) -> Response:
    """C2SP tlog-tiles hash tile."""
    tile_level = parse_tile_level(level)
    index, width = parse_tile_path(request, path, level)
    data = region.log.tile(tile_level, index, width)
    return Response(data, media_type="application/octet-stream", headers=_IMMUTABLE)


@router.get(
    "/v1/log/proof/inclusion",
    response_model=InclusionProof,
    operation_id="getInclusionProof",
    responses=problem_responses(*QUERY, *BUSY, p.LEDGER),
)
def inclusion(
    region: RegionDep, index: Index, tree_size: Annotated[int, Query(ge=1, le=MAX_INDEX), CANONICAL]
) -> InclusionProof:
    """Inclusion proof of leaf `index` in the tree of `tree_size` leaves."""
    n, proof = region.log.inclusion_proof(LeafIndex(index), tree_size)  # `Index` is range-checked by FastAPI
    return InclusionProof(leaf_index=index, tree_size=n, hashes=_b64(proof))


@router.get(
    "/v1/log/proof/consistency",
    response_model=ConsistencyProof,
    operation_id="getConsistencyProof",
    responses=problem_responses(*QUERY, *BUSY, p.LEDGER),
)
def consistency(region: RegionDep, first: Index, second: Index) -> ConsistencyProof:
    """Consistency proof between two tree sizes."""
    return ConsistencyProof(first=first, second=second, hashes=_b64(region.log.consistency_proof(first, second)))


@router.get(
    "/v1/log/leaves/{index}",
    operation_id="getLeaf",
    responses=problem_responses(*QUERY, *BUSY, p.LEDGER),
)
def leaf(index: Annotated[int, Path(ge=0, le=MAX_INDEX), CANONICAL], region: RegionDep) -> Response:
    """The leaf data of leaf `index` (canonical JSON envelope)."""
    data, _ = region.log.leaf(LeafIndex(index))  # range-checked by `Path(ge=0)`
    return Response(data, media_type="application/json", headers=_IMMUTABLE)
