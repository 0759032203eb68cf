"""The stored, versioned status map against a from-scratch recomputation of DESIGN §4b (on both databases).

The reference here is written from the spec alone and imports nothing of ours: `_root` builds the compact sparse
Merkle tree of a set of entries recursively, `_check` walks a proof bottom-up.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest
from sqlalchemy import Connection, Table, select

from ledger.errors import LedgerError
from ledger.statusmap import MapUpdate, StatusMapStore
from ledger.store import LedgerStore
from ledger.store_tables import nodes_table, values_table


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _bit(path: bytes, i: int) -> int:
    return (path[i // 8] >> (7 - i % 8)) & 1


def _root(entries: dict[bytes, bytes], depth: int = 0) -> bytes:
    """Root of {path: value bytes} at `depth`: empty → zeros; one entry → its leaf node; else an inner node."""
    if not entries:
        return bytes(32)
    if len(entries) == 1:
        ((path, value),) = entries.items()
        return _h(b"\x00" + path + _h(value))
    left = {p: v for p, v in entries.items() if _bit(p, depth) == 0}
    right = {p: v for p, v in entries.items() if _bit(p, depth) == 1}
    return _h(b"\x01" + _root(left, depth + 1) + _root(right, depth + 1))


def _check(path: bytes, start: bytes, siblings: tuple[bytes, ...]) -> bytes:
    node = start
    depth = len(siblings)
    for i, sib in enumerate(siblings):
        node = _h(b"\x01" + sib + node) if _bit(path, depth - 1 - i) else _h(b"\x01" + node + sib)
    return node


def _value(n: int, status: str) -> str:
    return json.dumps({"identifier": f"L{n}", "status": status, "version": 1}, sort_keys=True, separators=(",", ":"))


def _path(n: int) -> bytes:
    return _h(f"L{n}".encode())


def test_roots_and_proofs_match_the_spec_at_every_size(store: LedgerStore) -> None:
    rng = random.Random(7)
    smt = StatusMapStore()
    current: dict[bytes, bytes] = {}
    history: list[tuple[int, dict[bytes, bytes]]] = []
    size = 0
    with store.write() as conn:
        assert smt.root(conn) == bytes(32)
        for _ in range(12):  # batches of new entries and status changes, each at a later log size
            batch = []
            for _ in range(rng.randint(1, 25)):
                n = rng.randrange(60)
                batch.append(MapUpdate(_path(n), f"s{n}", _value(n, rng.choice(["active", "revoked"]))))
            size += rng.randint(1, 5)
            root = smt.apply(conn, batch, size)
            for u in batch:
                current[u.path] = u.value.encode()
            history.append((size, dict(current)))
            assert root == _root(current) == smt.root(conn, size)
    with store.reading() as conn:
        for at, entries in history:  # every past map is still provable at its own size
            assert smt.root(conn, at) == _root(entries)
            for n in range(0, 70, 3):
                proof = smt.prove(conn, _path(n), at)
                if _path(n) in entries:
                    assert proof.value is not None and proof.value.encode() == entries[_path(n)]
                    start = _h(b"\x00" + _path(n) + _h(proof.value.encode()))
                elif proof.leaf is not None:
                    other, digest = proof.leaf
                    assert other != _path(n) and other in entries and _h(entries[other]) == digest
                    start = _h(b"\x00" + other + digest)
                else:
                    start = bytes(32)
                assert _check(_path(n), start, proof.siblings) == _root(entries)


def test_two_entries_sharing_a_long_prefix_and_a_single_entry(store: LedgerStore) -> None:
    smt = StatusMapStore()
    seen: dict[bytes, int] = {}
    pair = None
    n = 0
    while pair is None:  # two paths sharing their first 14 bits: the tree grows a chain of inner nodes
        key = _path(n)[:2]
        prefix = int.from_bytes(key, "big") >> 2
        if prefix in seen:
            pair = (seen[prefix], n)
        seen[prefix] = n
        n += 1
    a, b = pair
    with store.write() as conn:
        smt.apply(conn, [MapUpdate(_path(a), "s", _value(a, "active"))], 1)
        one = smt.prove(conn, _path(a), 1)
        assert one.siblings == () and one.root == _root({_path(a): _value(a, "active").encode()})
        smt.apply(conn, [MapUpdate(_path(b), "t", _value(b, "active"))], 2)
        both = {_path(a): _value(a, "active").encode(), _path(b): _value(b, "active").encode()}
        proof = smt.prove(conn, _path(b), 2)
        assert len(proof.siblings) > 14
        assert _check(
            _path(b), _h(b"\x00" + _path(b) + _h(proof.value.encode() if proof.value else b"")), proof.siblings
        ) == _root(both)
        assert smt.prove(conn, _path(a), 1).siblings == ()  # the map at size 1 is unchanged


@pytest.mark.parametrize("count", [0, 1])
def test_non_membership_in_tiny_maps(store: LedgerStore, count: int) -> None:
    smt = StatusMapStore()
    with store.write() as conn:
        if count:
            smt.apply(conn, [MapUpdate(_path(1), "s", _value(1, "active"))], 1)
        proof = smt.prove(conn, _path(2), count)
    assert proof.value is None and proof.siblings == ()
    assert (proof.leaf is not None) == bool(count)


def _map_rows(conn: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    def rows(table: Table) -> list[tuple[object, ...]]:
        return sorted(
            tuple(bytes(c) if isinstance(c, memoryview) else c for c in r) for r in conn.execute(select(table))
        )

    return rows(nodes_table), rows(values_table)


def _clear(conn: Connection) -> None:
    conn.execute(nodes_table.delete())
    conn.execute(values_table.delete())


def test_build_writes_the_map_apply_writes(store: LedgerStore) -> None:
    """`build` (one pass, from scratch) against `apply`: the same rows as one `apply` of every entry at that size,
    and the same root and proofs as applying the entries in batches; a later `apply` on a built map works too."""
    rng = random.Random(2000)
    updates = [MapUpdate(_path(n), f"s{n}", _value(n, rng.choice(["active", "revoked"]))) for n in range(2000)]
    rng.shuffle(updates)  # `build` takes them in any order
    updates += [MapUpdate(u.path, u.stream, _value(int(u.stream[1:]), "suspended")) for u in updates[:50]]  # later wins
    probes = [_path(n) for n in range(0, 2100, 7)]  # members and absent paths
    smt = StatusMapStore()
    with store.write() as conn:
        batches = [updates[first : first + 300] for first in range(0, len(updates), 300)]
        size = len(batches)  # one `apply` per log size, as the projector does
        built_root = smt.build(conn, iter(updates), size)
        built_rows = _map_rows(conn)
        built_proofs = [smt.prove(conn, p, size) for p in probes]
        with pytest.raises(LedgerError, match="not empty"):
            smt.build(conn, updates[:1], 10)
        _clear(conn)
        assert smt.apply(conn, updates, size) == built_root
        assert _map_rows(conn) == built_rows
        _clear(conn)
        roots = [smt.apply(conn, batch, at) for at, batch in enumerate(batches, start=1)]
        root = roots[-1]
        assert root == built_root == _root({u.path: u.value.encode() for u in updates})
        assert [smt.prove(conn, p, size) for p in probes] == built_proofs
        _clear(conn)
        smt.build(conn, updates[:1000], size - 2)
        after = smt.apply(conn, updates[1000:], size)
        assert after == built_root and [smt.prove(conn, p, size) for p in probes] == built_proofs
