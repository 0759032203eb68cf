"""The log read API (DESIGN §4): checkpoint, C2SP tlog-tiles, JSON proofs, leaves and older checkpoints by size.

Full tiles, entry bundles, leaves and the first checkpoint signed at a tree size never change once published: they
are answered from this process's memory (`verify_api.immutable`) with a strong ETag, `immutable` caching and 304s,
and these handlers are `async` so a hit costs no thread-pool hop; a miss reads the store in the thread pool. Partial
tiles get a short max-age.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from ledger import tiles
from ledger.errors import LedgerError
from ledger.ids import LeafIndex
from verify_api import problems as p
from verify_api import reads
from verify_api.immutable import PARTIAL, Body, remembered, respond
from verify_api.params import CANONICAL
from verify_api.problems import CHECKPOINT_NOT_FOUND, NOT_FOUND, ProblemError
from verify_api.schemas import BUSY, QUERY, problem_responses
from verify_api.services import RegionServices
from verify_api.store import checkpoint_of_size

router = APIRouter(tags=["log"])
OCTETS = "application/octet-stream"
NOTE = "text/plain; charset=utf-8"
MAX_INDEX = tiles.MAX_INDEX  # indexes and sizes stay in the I-JSON range; larger input is a 4xx, not a driver overflow
Index = Annotated[int, Query(ge=0, le=MAX_INDEX), CANONICAL]  # one spelling per number: `01`, `+1`, `1_0` are 422


async def get_region(request: Request) -> RegionServices:
    """The region held by the running app (`async`: an attribute read needs no thread-pool hop)."""
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
    "/v1/log/checkpoints/{size}",
    response_class=PlainTextResponse,
    operation_id="getCheckpointOfSize",
    responses=problem_responses(*QUERY, *BUSY, p.CHECKPOINT_NOT_FOUND),
)
async def checkpoint_at_size(
    request: Request,
    size: Annotated[int, Path(ge=0, le=MAX_INDEX, description="tree size, canonical decimal"), CANONICAL],
    region: RegionDep,
) -> Response:
    """The signed checkpoint of exactly `size` leaves (C2SP tlog-checkpoint note), for a verifier or auditor that
    holds an older proof: the first one signed at that size, which never changes, so it is served as immutable."""
    route = request.scope["route"].path

    def read() -> Body:
        # The first stored note of that size, not the newest: a later re-signing at the same size (a new timestamp)
        # must not change what this URL has already served with `immutable` caching.
        cp = checkpoint_of_size(region.store.engine, size)
        if cp is None:  # not signed (yet): a problem, and nothing is kept
            raise ProblemError(CHECKPOINT_NOT_FOUND, f"no checkpoint was signed at tree size {size}", field="size")
        return Body.of(cp.note.encode("utf-8"), NOTE, route=route)

    return respond(request, await remembered(request, f"/v1/log/checkpoints/{size}", read))


@router.get(
    "/tile/entries/{path:path}",
    operation_id="getEntryBundle",
    responses=problem_responses(*BUSY, p.NOT_FOUND),
)
async def entry_bundle(request: Request, path: str, region: RegionDep) -> Response:
    """C2SP tlog-tiles entry bundle."""
    index, width = parse_tile_path(request, path)
    canonical = f"/tile/entries/{tiles.index_path(index)}"
    return await _tile(request, canonical, width, lambda: reads.entry_bundle(region.reads, index, width))


@router.get(
    "/tile/{level}/{path:path}",
    operation_id="getHashTile",
    responses=problem_responses(*BUSY, p.NOT_FOUND),
)
async def hash_tile(
    request: Request,
    level: Annotated[str, Path(description="tile level, 0-63 in canonical decimal")],
    path: str,
    region: RegionDep,
) -> Response:
    """C2SP tlog-tiles hash tile."""
    tile_level = parse_tile_level(level)
    index, width = parse_tile_path(request, path, level)
    canonical = "/" + tiles.tile_path(tile_level, index)
    return await _tile(request, canonical, width, lambda: reads.hash_tile(region.reads, tile_level, index, width))


async def _tile(request: Request, canonical: str, width: int | None, read: Callable[[], bytes]) -> Response:
    """A full tile from memory (read once, in the thread pool); a partial one read each time, briefly cacheable."""
    route = request.scope["route"].path
    if width is not None:
        return respond(request, Body.of(await run_in_threadpool(read), OCTETS, PARTIAL, route))
    return respond(request, await remembered(request, canonical, lambda: Body.of(read(), OCTETS, route=route)))


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
    n, proof = reads.inclusion_proof(region.reads, LeafIndex(index), tree_size)  # `Index` is range-checked
    return InclusionProof(leaf_index=index, tree_size=n, hashes=_b64(proof))


@router.get(
    "/v1/log/proof/consistency",
    response_model=ConsistencyProof,
    operation_id="getConsistencyProof",
    responses=problem_responses(*QUERY, *BUSY, p.LEDGER),
)
def consistency(region: RegionDep, first: Index, second: Index) -> ConsistencyProof:
    """Consistency proof between two tree sizes."""
    return ConsistencyProof(
        first=first, second=second, hashes=_b64(reads.consistency_proof(region.reads, first, second))
    )


@router.get(
    "/v1/log/leaves/{index}",
    operation_id="getLeaf",
    responses=problem_responses(*QUERY, *BUSY, p.LEDGER),
)
async def leaf(
    request: Request, index: Annotated[int, Path(ge=0, le=MAX_INDEX), CANONICAL], region: RegionDep
) -> Response:
    """The leaf data of leaf `index` (canonical JSON envelope)."""
    route = request.scope["route"].path

    def read() -> Body:
        data, _ = reads.leaf(region.reads, LeafIndex(index))  # range-checked by `Path(ge=0)`
        return Body.of(data, "application/json", route=route)

    return respond(request, await remembered(request, f"/v1/log/leaves/{index}", read))
