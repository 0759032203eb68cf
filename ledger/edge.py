"""The right edge of the stored tree and the tiles it completes (ADR 0002): pure functions, no storage.

A tile at level L holds up to 256 hashes of height-8L nodes (C2SP tlog-tiles). Appending leaves to the edge yields
the tiles that became full; the root of the tree follows from the edge alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.merkle import EMPTY_ROOT, decompose, fold, node_hash, root_of

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT


@dataclass
class _Edge:
    """The right edge of the stored tree: entries of the partial tile at each level, valid at `size`."""

    size: int
    levels: list[list[bytes]] = field(default_factory=list)

    def copy(self) -> _Edge:
        return _Edge(self.size, [list(x) for x in self.levels])


@dataclass(frozen=True)
class TileRow:
    """A full tile to store: 256 entries and the root they hash to."""

    level: int
    idx: int
    hashes: bytes
    root: bytes


def push_leaves(edge: _Edge, leaf_hashes: Sequence[bytes]) -> list[TileRow]:
    """Append leaf hashes to the edge; return the tiles that became full (O(1) amortised per leaf)."""
    completed: list[TileRow] = []
    for h in leaf_hashes:
        edge.size += 1
        level, entry = 0, h
        while True:
            if len(edge.levels) <= level:
                edge.levels.append([])
            entries = edge.levels[level]
            entries.append(entry)
            if len(entries) < TILE_WIDTH:
                break
            root = root_of(entries)
            idx = (edge.size >> (TILE_HEIGHT * (level + 1))) - 1
            completed.append(TileRow(level, idx, b"".join(entries), root))
            edge.levels[level] = []
            level, entry = level + 1, root
    return completed


def tile_levels(entries: Sequence[bytes]) -> list[list[bytes]]:
    """All complete node hashes inside one tile: level r holds the nodes of 2**r entries each."""
    levels = [list(entries)]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append([node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return levels


def edge_root(edge: _Edge) -> bytes:
    """The root of the tree of `edge.size` leaves, from the edge alone (RFC 9162 §2.1.1 MTH)."""
    if edge.size == 0:
        return EMPTY_ROOT
    hashes = []
    for height, index in decompose(0, edge.size):
        level, rel = divmod(height, TILE_HEIGHT)
        available = edge.size >> (TILE_HEIGHT * level)
        start = available - len(edge.levels[level])
        first = (index << rel) - start
        hashes.append(root_of(edge.levels[level][first : first + (1 << rel)]))
    return fold(hashes)
