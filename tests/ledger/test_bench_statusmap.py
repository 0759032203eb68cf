"""The status map benchmark's computed proof sizes (10M entries, no SQL) rest on its leaf-depth model: checked here
against the proofs of a map stored by `StatusMapStore.build`, on both databases."""

from __future__ import annotations

from collections import Counter

from bench.bench_statusmap import identifier, leaf_depths_of, proof_bytes, signed_note, status_value
from ledger.statusmap import MapUpdate, StatusMapStore
from ledger.store import LedgerStore
from signatures.statusmap import path_of
from signatures.statusproof import StatusProof


def test_leaf_depth_model_matches_a_stored_map(store: LedgerStore) -> None:
    n = 600
    smt = StatusMapStore()
    with store.write() as conn:
        root = smt.build(
            conn, (MapUpdate(path_of(identifier(i)), identifier(i), status_value(i, i)) for i in range(n)), n
        )
        proofs = [smt.prove(conn, path_of(identifier(i)), n) for i in range(n)]
    assert all(p.root == root and p.value is not None for p in proofs)
    stored = Counter(len(p.siblings) for p in proofs)
    assert leaf_depths_of(sorted(int.from_bytes(path_of(identifier(i))[:8], "big") for i in range(n))) == stored
    # the size model: a document grows by one base64 hash and its quotes and comma per sibling
    note = signed_note(n, root)
    sizes = [proof_bytes(StatusProof(note, identifier(0), proofs[0].value, None, (bytes(32),) * d)) for d in (1, 2)]
    assert sizes[1] - sizes[0] == 47
