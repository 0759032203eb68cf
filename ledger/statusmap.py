"""The status map's storage (DESIGN §4b): a versioned compact sparse Merkle tree, updated with the events.

Every node ever written is kept under its key and the log size at which it was written (`map_size`), so the map
of any log prefix — the one a checkpoint of that size commits to — is "for each key, its row with the greatest
`map_size` ≤ N". Entries are never removed (a licence version only changes status), so a subtree only ever grows:
empty → one leaf → inner node. A node key is the depth (2 bytes) and the path's first `depth` bits.

Writes happen inside the unit of work that appends the events changing a status (`apply`), so the map and the log
commit together; reads (`root`, `prove`, `value`) take one query for the whole path and its siblings. `build` writes
a whole map at one size in a single pass (the same rows as one `apply` of every entry), for backfills and benchmarks.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ledger import store_statusmap as sql
from ledger.errors import LedgerError
from signatures.statusmap import EMPTY, PATH_BITS, bit, common_prefix_bits, inner_node, leaf_node, value_hash

if TYPE_CHECKING:
    from sqlalchemy import Connection

_FIRST_READ_DEPTH = 48  # one query covers paths this deep (a map of 10^9 entries is ~30 levels deep on average)
_READ_MARGIN = 8  # a proof's first read covers this many levels below the last proof's depth
_BUILD_CHUNK = 10_000  # rows per executemany when `build` writes a whole map
_PRELOAD_CHUNK = 2_000  # keys per query when `apply` reads a batch's paths (SQLite allows 32,766 parameters)


@dataclass(frozen=True, slots=True)
class MapNode:
    """A stored node: its hash, and for a leaf node the entry's path and value hash."""

    hash: bytes
    leaf_path: bytes | None = None
    value_hash: bytes | None = None


@dataclass(frozen=True)
class MapProof:
    """Where `path` ends in the map at `size` and the siblings from there up (bottom-up, DESIGN §4b)."""

    size: int
    root: bytes
    value: str | None  # the entry's canonical JSON, None when absent
    leaf: tuple[bytes, bytes] | None  # (path, value hash) of the other leaf a non-membership proof ends at
    siblings: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class MapUpdate:
    """Set the entry at `path` (a licence version) to `value` (canonical JSON); `stream` is its licence."""

    path: bytes
    stream: str
    value: str


def node_key(depth: int, path: bytes) -> bytes:
    """The key of the node at `depth` on `path`: 2-byte depth ‖ the first `depth` bits (the rest zeroed)."""
    whole, rest = divmod(depth, 8)
    if not rest:
        return depth.to_bytes(2, "big") + path[:whole]
    return depth.to_bytes(2, "big") + path[:whole] + bytes((path[whole] & (0xFF00 >> rest) & 0xFF,))


def sibling_key(depth: int, path: bytes) -> bytes:
    """The key of the node at `depth` (≥ 1) beside `path` (bit `depth-1` flipped)."""
    key = bytearray(node_key(depth, path))
    key[2 + ((depth - 1) >> 3)] ^= 0x80 >> ((depth - 1) & 7)
    return bytes(key)


def _path_keys(path: bytes, first: int, last: int) -> list[bytes]:
    """Keys of the nodes on `path` at depths first..last and of their siblings."""
    keys = [node_key(d, path) for d in range(first, last + 1)]
    return keys + [sibling_key(d, path) for d in range(max(first, 1), last + 1)]


class StatusMapStore:
    """Reads and writes the versioned status map (the tables above, in the ledger's database)."""

    def __init__(self) -> None:
        self._depth_hint = _FIRST_READ_DEPTH - _READ_MARGIN  # where the last proof's path ended

    # -- reading ---------------------------------------------------------------------------------------------------

    def nodes(self, conn: Connection, keys: Iterable[bytes], size: int | None) -> dict[bytes, MapNode]:
        """The nodes under `keys` in the map at `size` (None: the newest); absent keys are empty subtrees."""
        rows = sql.select_nodes(conn, list(dict.fromkeys(keys)), size)
        return {bytes(k): MapNode(bytes(h), _opt(lp), _opt(vh)) for k, h, lp, vh in rows}

    def root(self, conn: Connection, size: int | None = None) -> bytes:
        """The map root at log size `size` (None: the newest); 32 zero bytes for an empty map."""
        node = self.nodes(conn, [node_key(0, bytes(32))], size).get(node_key(0, bytes(32)))
        return EMPTY if node is None else node.hash

    def has_entries(self, conn: Connection) -> bool:
        """Whether the map holds any entry at all."""
        return sql.any_value(conn)

    def value(self, conn: Connection, path: bytes, size: int | None = None) -> str | None:
        """The entry at `path` in the map at `size` (its canonical JSON), or None."""
        return sql.select_value(conn, path, size)

    def current_of(self, conn: Connection, streams: Iterable[str]) -> dict[str, str]:
        """The newest entry of each stream (its licence's current version), for the streams that have one."""
        wanted = list(dict.fromkeys(streams))
        if not wanted:
            return {}
        # Two rows can share a stream's newest size (a renewal writes the superseded version and the new one):
        # the current one is the higher version.
        found: dict[str, str] = {}
        for stream, value in sql.select_newest_of_streams(conn, wanted):
            if stream not in found or _version_of(value) > _version_of(found[stream]):
                found[stream] = value
        return found

    def prove(self, conn: Connection, path: bytes, size: int) -> MapProof:
        """The proof for `path` in the map at log size `size`: membership or non-membership."""
        nodes: dict[bytes, MapNode] = {}
        on: list[bytes] = []  # on[d]: the key of the node at depth d on the path
        beside: list[bytes] = [b""]  # beside[d]: the key of its sibling (d ≥ 1)
        depth = 0
        while True:
            if depth == len(on):
                # The first read covers a little more than the last proof's depth (a map of n entries ends near
                # depth log2(n)): fewer keys than a fixed window, and a deeper path just takes one more read.
                reach = self._depth_hint + _READ_MARGIN if depth == 0 else depth + _FIRST_READ_DEPTH
                last = min(reach, PATH_BITS)
                more_on = [node_key(d, path) for d in range(depth, last + 1)]
                more_beside = [sibling_key(d, path) for d in range(max(depth, 1), last + 1)]
                nodes |= self.nodes(conn, more_on + more_beside, size)
                on += more_on
                beside += more_beside
            node = nodes.get(on[depth])
            if node is None or node.leaf_path is not None:
                break
            if depth == PATH_BITS:
                raise LedgerError("the status map has an inner node at full depth (run `trustledger audit`)")
            depth += 1
        self._depth_hint = min(depth, _FIRST_READ_DEPTH)  # only a hint: any value gives the same proof
        siblings = tuple(_hash(nodes.get(beside[d])) for d in range(depth, 0, -1))
        root = _hash(nodes.get(on[0]))
        if node is None:
            return MapProof(size, root, None, None, siblings)
        if node.leaf_path == path:
            value = self.value(conn, path, size)
            if value is None or node.value_hash != value_hash(value.encode()):
                raise LedgerError("the status map's value does not match its leaf (run `trustledger audit`)")
            return MapProof(size, root, value, None, siblings)
        assert node.leaf_path is not None and node.value_hash is not None
        return MapProof(size, root, None, (node.leaf_path, node.value_hash), siblings)

    # -- writing (inside the unit of work that appends the events) -------------------------------------------------

    def apply(self, conn: Connection, updates: Sequence[MapUpdate], size: int) -> bytes:
        """Set every entry of `updates` (later ones win) as of log size `size`; returns the new root."""
        if not updates:
            return self.root(conn, size)
        last = {u.path: u for u in updates}
        tree = _Overlay(self, conn)
        tree.preload(list(last), self._depth_hint + 2)
        depths = [tree.put(path, value_hash(update.value.encode())) for path, update in last.items()]
        self._depth_hint = min(sum(depths) // len(depths), _FIRST_READ_DEPTH)  # typical, not the deepest: a hint
        sql.insert_node_tuples(conn, tree.rehash(size))
        sql.insert_values(conn, [(u.path, size, u.stream, u.value) for u in last.values()])
        return tree.root()

    def build(self, conn: Connection, entries: Iterable[MapUpdate], size: int) -> bytes:
        """Write the whole map of `entries` (in any order; later ones win) at log size `size` into an empty map, in
        one pass; returns its root. The rows are exactly those `apply(conn, entries, size)` would write, without the
        per-entry reads: for backfilling a map, or building a large one for a benchmark."""
        if sql.any_value(conn) or sql.any_node(conn):
            raise LedgerError("the status map is not empty: `build` writes a map from scratch")
        last = {u.path: u for u in entries}
        if not last:
            return EMPTY
        builder = _Builder(conn, size, sorted(last))
        root = builder.subtree(0, len(builder.paths), 0, [value_hash(last[p].value.encode()) for p in builder.paths])
        builder.flush()
        for first in range(0, len(builder.paths), _BUILD_CHUNK):
            chunk = builder.paths[first : first + _BUILD_CHUNK]
            sql.insert_values(conn, [(p, size, last[p].stream, last[p].value) for p in chunk])
        return root


class _Builder:
    """The compact tree over sorted, distinct paths, built bottom-up by recursion over the branching nodes only
    (at most 256 deep): a run of single-child nodes above a branch is hashed in a loop. Rows are written in chunks."""

    def __init__(self, conn: Connection, size: int, paths: list[bytes]) -> None:
        self._conn = conn
        self._size = size
        self.paths = paths
        self._ints = [int.from_bytes(p, "big") for p in paths]
        self._rows: list[tuple[bytes, int, bytes, bytes | None, bytes | None]] = []

    def subtree(self, lo: int, hi: int, depth: int, digests: list[bytes]) -> bytes:
        """The node at `depth` over paths [lo, hi), which share their first `depth` bits; writes it and below."""
        path = self.paths[lo]
        if hi - lo == 1:
            node = leaf_node(path, digests[lo])
            self._emit(node_key(depth, path), node, path, digests[lo])
            return node
        first, last = self._ints[lo], self._ints[hi - 1]
        split = PATH_BITS - (first ^ last).bit_length()  # the first bit where the run branches
        shift = PATH_BITS - 1 - split
        mid = bisect_left(self._ints, ((first >> shift) | 1) << shift, lo, hi)  # the first path with that bit set
        node = inner_node(self.subtree(lo, mid, split + 1, digests), self.subtree(mid, hi, split + 1, digests))
        self._emit(node_key(split, path), node, None, None)
        for d in range(split - 1, depth - 1, -1):  # single-child nodes up to `depth`: the other side is empty
            node = inner_node(EMPTY, node) if (first >> (PATH_BITS - 1 - d)) & 1 else inner_node(node, EMPTY)
            self._emit(node_key(d, path), node, None, None)
        return node

    def _emit(self, key: bytes, node: bytes, leaf_path: bytes | None, digest: bytes | None) -> None:
        self._rows.append((key, self._size, node, leaf_path, digest))
        if len(self._rows) >= _BUILD_CHUNK:
            self.flush()

    def flush(self) -> None:
        """Write the rows not written yet."""
        sql.insert_node_tuples(self._conn, self._rows)
        self._rows = []


class _Overlay:
    """The nodes an update touches, loaded once, changed in memory and written back with their new hashes."""

    def __init__(self, store: StatusMapStore, conn: Connection) -> None:
        self._store = store
        self._conn = conn
        self._nodes: dict[bytes, MapNode | None] = {}
        self._dirty: dict[bytes, tuple[int, bytes]] = {}  # key -> (depth, a path through it)

    def _get(self, depth: int, path: bytes) -> MapNode | None:
        key = node_key(depth, path)
        if key not in self._nodes:
            last = min(depth + _FIRST_READ_DEPTH, PATH_BITS)
            keys = [k for k in _path_keys(path, depth, last) if k not in self._nodes]
            found = self._store.nodes(self._conn, keys, None)
            for k in keys:
                self._nodes[k] = found.get(k)
        return self._nodes[key]

    def preload(self, paths: Sequence[bytes], reach: int) -> None:
        """Read what `put` and `rehash` need for the whole batch in a few queries (a batch of 1,000 entries would
        otherwise take 1,000 reads): first the nodes on each path down to where it ends (an empty subtree or a
        leaf; `reach` levels at first, then `_READ_MARGIN` more at a time), then the siblings above that end only.
        Anything else (a path lengthened by another entry of the batch) is read on demand."""
        ends: list[tuple[bytes, int]] = []
        pending = [(p, 0, min(reach, PATH_BITS)) for p in paths]  # (path, first depth, last depth) still to read
        while pending:
            keys = {p: [node_key(d, p) for d in range(lo, hi + 1)] for p, lo, hi in pending}
            self._load(k for on in keys.values() for k in on)
            deeper = []
            for p, lo, hi in pending:
                end = next((i for i, k in enumerate(keys[p]) if (n := self._nodes[k]) is None or n.leaf_path), None)
                if end is not None or hi == PATH_BITS:
                    ends.append((p, lo + end if end is not None else hi))
                else:
                    deeper.append((p, hi + 1, min(hi + _READ_MARGIN, PATH_BITS)))
            pending = deeper
        self._load(sibling_key(d, p) for p, end in ends for d in range(1, end + 1))

    def _load(self, keys: Iterable[bytes]) -> None:
        wanted = [k for k in dict.fromkeys(keys) if k not in self._nodes]
        for first in range(0, len(wanted), _PRELOAD_CHUNK):
            chunk = wanted[first : first + _PRELOAD_CHUNK]
            found = self._store.nodes(self._conn, chunk, None)
            for k in chunk:
                self._nodes[k] = found.get(k)

    def _set(self, depth: int, path: bytes, node: MapNode | None) -> None:
        key = node_key(depth, path)
        self._nodes[key] = node
        self._dirty[key] = (depth, path)

    def put(self, path: bytes, digest: bytes) -> int:
        """Set the entry at `path`; returns the depth of its leaf."""
        leaf = MapNode(leaf_node(path, digest), path, digest)
        depth = 0
        while True:
            node = self._get(depth, path)
            if node is None or node.leaf_path == path:
                break
            if node.leaf_path is not None:  # another entry alone here: both move below their first differing bit
                split = common_prefix_bits(path, node.leaf_path)
                for d in range(depth, split + 1):
                    self._set(d, path, MapNode(EMPTY))  # inner; hashed in `rehash`
                    self._nodes.setdefault(sibling_key(d + 1, path), None)
                self._set(split + 1, node.leaf_path, node)
                depth = split + 1
                break
            depth += 1
        self._set(depth, path, leaf)
        for d in range(depth - 1, -1, -1):  # every inner node above changes
            self._set(d, path, MapNode(EMPTY))
        return depth

    def rehash(self, size: int) -> list[tuple[bytes, int, bytes, bytes | None, bytes | None]]:
        rows: list[tuple[bytes, int, bytes, bytes | None, bytes | None]] = []
        for key, (depth, path) in sorted(self._dirty.items(), key=lambda item: -item[1][0]):
            node = self._nodes[key]
            assert node is not None
            if node.leaf_path is None:
                left, right = self._child(depth + 1, path, 0), self._child(depth + 1, path, 1)
                node = MapNode(inner_node(left, right))
                self._nodes[key] = node
            rows.append((key, size, node.hash, node.leaf_path, node.value_hash))
        return rows

    def _child(self, depth: int, path: bytes, side: int) -> bytes:
        child = bytearray(path)
        index = depth - 1
        if bit(path, index) != side:
            child[index >> 3] ^= 0x80 >> (index & 7)
        key = node_key(depth, bytes(child))
        if key not in self._nodes:  # a sibling the path read did not cover (deeper than its window)
            self._nodes[key] = self._store.nodes(self._conn, [key], None).get(key)
        return _hash(self._nodes[key])

    def root(self) -> bytes:
        return _hash(self._nodes.get(node_key(0, bytes(32))))


def _hash(node: MapNode | None) -> bytes:
    return EMPTY if node is None else node.hash


def _opt(data: bytes | None) -> bytes | None:
    return None if data is None else bytes(data)


def _version_of(value: str) -> int:
    return int(json.loads(value)["version"])


__all__ = [
    "MapNode",
    "MapProof",
    "MapUpdate",
    "StatusMapStore",
    "node_key",
    "sibling_key",
]
