"""RFC 9162 Merkle tree hashing, proof generation and verification, as pure functions.

A tree of `size` leaves is addressed by complete subtrees ("nodes"): `Node(height, idx)` covers the leaves
`[idx << height, (idx + 1) << height)`. Storage is reached through one method, `HashReader.read_hashes`,
that returns the hashes of complete nodes (as Go's sumdb/tlog does); everything else here is arithmetic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from ledger.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 9162 §2.1.1: MTH({}) = SHA-256()


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 §2.1.1: MTH({d}) = SHA-256(0x00 ‖ d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 9162 §2.1.1: SHA-256(0x01 ‖ MTH(left) ‖ MTH(right))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class Node(NamedTuple):
    """A complete subtree of 2**height leaves starting at leaf `idx << height`."""

    height: int
    idx: int


class HashReader(Protocol):
    """The storage port: hashes of complete nodes, in the order asked."""

    def read_hashes(self, nodes: Sequence[Node]) -> list[bytes]:
        """Return the hash of each node; every node lies wholly inside the stored tree."""
        ...


def _largest_power_of_two_below(n: int) -> int:
    """RFC 9162 §2.1.1: k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def decompose(lo: int, hi: int) -> list[Node]:
    """The maximal aligned complete nodes covering leaves [lo, hi), left to right."""
    nodes = []
    while lo < hi:
        height = (hi - lo).bit_length() - 1
        if lo:
            height = min(height, (lo & -lo).bit_length() - 1)
        nodes.append(Node(height, lo >> height))
        lo += 1 << height
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of `decompose(lo, hi)` right to left into MTH(D[lo:hi])."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a list of leaf hashes held in memory (RFC 9162 §2.1.1); for tests and small trees."""
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _range_hashes(reader: HashReader, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """MTH(D[lo:hi]) for each range, reading all nodes in one call."""
    per_range = [decompose(lo, hi) for lo, hi in ranges]
    flat = [node for nodes in per_range for node in nodes]
    hashes = reader.read_hashes(flat) if flat else []
    out, i = [], 0
    for nodes in per_range:
        out.append(fold(hashes[i : i + len(nodes)]))
        i += len(nodes)
    return out


def tree_hash(reader: HashReader, size: int) -> bytes:
    """The root hash of the first `size` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes(reader, [(0, size)])[0]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]) as the leaf ranges whose hashes form the proof, leaf to root."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(first: int, second: int) -> list[tuple[int, int]]:
    """RFC 9162 §2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true) as leaf ranges, in proof order."""
    if not 0 <= first <= second:
        raise ProofError(f"cannot prove consistency from size {first} to size {second}")
    if first in (0, second):
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, second, first, True
    while True:
        n = hi - lo
        if m == n:
            if not complete:
                ranges.append((lo, hi))
            break
        k = _largest_power_of_two_below(n)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, complete = lo + k, m - k, False
    ranges.reverse()
    return ranges


def prove_inclusion(reader: HashReader, index: int, size: int) -> list[bytes]:
    """The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 §2.1.3.1)."""
    return _range_hashes(reader, inclusion_ranges(index, size))


def prove_consistency(reader: HashReader, first: int, second: int) -> list[bytes]:
    """The consistency proof from size `first` to size `second` (RFC 9162 §2.1.4.1)."""
    return _range_hashes(reader, consistency_ranges(first, second))


def _check_hashes(proof: Sequence[bytes], *roots: bytes) -> None:
    if any(len(h) != HASH_SIZE for h in (*proof, *roots)):
        raise ProofError("hashes must be 32 bytes")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2: the root that an inclusion proof implies, or ProofError if it cannot be valid."""
    _check_hashes(proof, leaf)
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Raise ProofError unless `proof` proves `leaf` at `index` in the tree of `size` with `root`."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("inclusion proof does not lead to the root hash")


def verify_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: raise ProofError unless `proof` shows tree `first` is a prefix of tree `second`."""
    _check_hashes(proof, first_root, second_root)
    if not 0 <= first <= second:
        raise ProofError(f"cannot prove consistency from size {first} to size {second}")
    if first == second or first == 0:
        if proof:
            raise ProofError("consistency proof must be empty")
        if first == second and first_root != second_root:
            raise ProofError("same size but different root hashes")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:  # first is an exact power of two: its root is the first node
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root or sr != second_root:
        raise ProofError("consistency proof does not lead to both root hashes")
