"""RFC 9162 hashing and proofs: published vectors, every size up to 64 with every bit flipped, random sizes."""

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ProofError
from ledger.merkle import (
    EMPTY_ROOT,
    decompose,
    leaf_hash,
    node_hash,
    prove_consistency,
    prove_inclusion,
    root_from_inclusion_proof,
    root_of,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.ledger.memtree import MemoryTree

VECTORS = json.loads((Path(__file__).parent.parent / "vectors" / "rfc9162.json").read_text())


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[which])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:which], bytes(changed), *proof[which + 1 :]]


def test_hashing_vectors() -> None:
    assert EMPTY_ROOT.hex() == VECTORS["empty_root"]
    for v in VECTORS["leaf_hashes"]:
        assert leaf_hash(bytes.fromhex(v["data_hex"])).hex() == v["leaf_hash"]
    ex = VECTORS["node_hash_example"]
    assert node_hash(ex["left"].encode(), ex["right"].encode()).hex() == ex["node_hash"]


def test_roots_by_size_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves_hex"]]
    for size, root in VECTORS["roots_by_size"].items():
        n = int(size)
        assert root_of(leaves[:n]).hex() == root
        assert tree_hash(MemoryTree(leaves), n).hex() == root


def test_inclusion_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves_hex"]]
    tree = MemoryTree(leaves)
    for v in VECTORS["inclusion"]:
        proof = prove_inclusion(tree, v["leaf_index"], v["tree_size"])
        assert [p.hex() for p in proof] == v["path"]
        root = bytes.fromhex(VECTORS["roots_by_size"][str(v["tree_size"])])
        verify_inclusion(v["leaf_index"], v["tree_size"], leaves[v["leaf_index"]], proof, root)


def test_consistency_vectors() -> None:
    leaves = [leaf_hash(bytes.fromhex(h)) for h in VECTORS["leaves_hex"]]
    tree = MemoryTree(leaves)
    for v in VECTORS["consistency"]:
        proof = prove_consistency(tree, v["first"], v["second"])
        assert [p.hex() for p in proof] == v["proof"]
        r1 = bytes.fromhex(VECTORS["roots_by_size"][str(v["first"])])
        r2 = bytes.fromhex(VECTORS["roots_by_size"][str(v["second"])])
        verify_consistency(v["first"], v["second"], r1, r2, proof)


def test_decompose_covers_range_with_aligned_nodes() -> None:
    for lo in range(40):
        for hi in range(lo, 80):
            nodes = decompose(lo, hi)
            pos = lo
            for height, index in nodes:
                assert index << height == pos
                pos += 1 << height
            assert pos == hi


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_verifies_and_every_bit_flip_fails(size: int) -> None:
    leaves = _leaves(size)
    tree = MemoryTree(leaves)
    root = root_of(leaves)
    for index in range(size):
        proof = prove_inclusion(tree, index, size)
        verify_inclusion(index, size, leaves[index], proof, root)
        for which in range(len(proof)):
            for bit in range(256):
                with pytest.raises(ProofError):
                    verify_inclusion(index, size, leaves[index], _flip(proof, which, bit), root)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf_hash(b"other"), proof, root)
        if proof:
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaves[index], proof[:-1], root)
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[index], [*proof, root], root)


@pytest.mark.parametrize("second", range(1, 65))
def test_every_consistency_proof_verifies_and_every_bit_flip_fails(second: int) -> None:
    leaves = _leaves(second)
    tree = MemoryTree(leaves)
    r2 = root_of(leaves)
    for first in range(second + 1):
        r1 = root_of(leaves[:first])
        proof = prove_consistency(tree, first, second)
        verify_consistency(first, second, r1, r2, proof)
        for which in range(len(proof)):
            for bit in range(0, 256, 3):
                with pytest.raises(ProofError):
                    verify_consistency(first, second, r1, r2, _flip(proof, which, bit))
        if 0 < first < second:
            with pytest.raises(ProofError):
                verify_consistency(first, second, r1, leaf_hash(b"fork"), proof)
            with pytest.raises(ProofError):
                verify_consistency(first, second, leaf_hash(b"fork"), r2, proof)


def test_proofs_reject_impossible_sizes() -> None:
    tree = MemoryTree(_leaves(5))
    with pytest.raises(ProofError):
        prove_inclusion(tree, 5, 5)
    with pytest.raises(ProofError):
        prove_consistency(tree, 6, 5)
    with pytest.raises(ProofError):
        root_from_inclusion_proof(0, 0, leaf_hash(b""), [])
    with pytest.raises(ProofError):
        verify_inclusion(0, 2, b"short", [bytes(32)], bytes(32))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=5000), st.data())
def test_random_large_trees(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    tree = MemoryTree(leaves)
    root = root_of(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = prove_inclusion(tree, index, size)
    verify_inclusion(index, size, leaves[index], proof, root)
    first = data.draw(st.integers(0, size))
    cproof = prove_consistency(tree, first, size)
    verify_consistency(first, size, root_of(leaves[:first]), root, cproof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaves[index], _flip(proof, which, bit), root)
