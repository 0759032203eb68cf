"""The status map's hashing (DESIGN §4b): a compact sparse Merkle tree over SHA-256 paths.

- `path = SHA-256(UTF-8 identifier)`; path bit 0 is the most significant bit of the first byte; bit 0 goes left.
- leaf node = SHA-256(0x00 ‖ path ‖ SHA-256(value)); inner node = SHA-256(0x01 ‖ left ‖ right);
- an empty subtree is 32 zero bytes; a subtree holding exactly one leaf is that leaf node.

These are the primitives both sides share: `ledger.statusmap` builds and proves the map with them, the proof verifier
(`signatures.statusproof`) checks with them. Standard library only.
"""

from __future__ import annotations

import hashlib

PATH_BITS = 256
EMPTY = bytes(32)
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
STATUSES = ("active", "suspended", "revoked", "superseded")


def path_of(identifier: str) -> bytes:
    """The map path of a licence identifier (the full identifier, as in the token's `sub`)."""
    return hashlib.sha256(identifier.encode()).digest()


def value_hash(value: bytes) -> bytes:
    """SHA-256 of a value's canonical JSON bytes."""
    return hashlib.sha256(value).digest()


def leaf_node(path: bytes, value_digest: bytes) -> bytes:
    """The node of a subtree holding exactly one leaf."""
    return hashlib.sha256(LEAF_PREFIX + path + value_digest).digest()


def inner_node(left: bytes, right: bytes) -> bytes:
    """An inner node over two children (either may be `EMPTY`)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def bit(path: bytes, depth: int) -> int:
    """Bit `depth` of `path` (0 = the most significant bit of the first byte)."""
    return (path[depth >> 3] >> (7 - (depth & 7))) & 1


def common_prefix_bits(a: bytes, b: bytes) -> int:
    """How many leading bits `a` and `b` share (256 when equal)."""
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            return i * 8 + (8 - (x ^ y).bit_length())
    return len(a) * 8


__all__ = [
    "EMPTY",
    "PATH_BITS",
    "STATUSES",
    "bit",
    "common_prefix_bits",
    "inner_node",
    "leaf_node",
    "path_of",
    "value_hash",
]
