"""Status-map proofs, checked against an independent map builder and verifier written in this file.

The reference part (`ref_*`) uses only hashlib and json: it does not import `signatures.statusmap`,
`signatures.statusproof` or `ledger`, so a shared mistake in the primitives cannot make both sides agree.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from signatures.errors import MalformedError, VerificationError
from signatures.note import CheckpointBody, NoteSigner, parse_checkpoint, sign_note
from signatures.statusproof import (
    ProvenStatus,
    StatusProof,
    StatusValue,
    map_root,
    parse_status_proof,
    parse_status_value,
    recompute_root,
    verify_status_proof,
)
from tests.signatures import helpers as h

# --- the independent reference: a compact sparse Merkle tree from the spec text -----------------------------------

ZERO = bytes(32)


def sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def ref_path(identifier: str) -> bytes:
    return sha(identifier.encode("utf-8"))


def ref_leaf(path: bytes, vh: bytes) -> bytes:
    return sha(b"\x00", path, vh)


def ref_inner(left: bytes, right: bytes) -> bytes:
    return sha(b"\x01", left, right)


def ref_bit(path: bytes, i: int) -> int:
    return (int.from_bytes(path, "big") >> (255 - i)) & 1


def ref_shared_bits(a: bytes, b: bytes) -> int:
    return 256 - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


@dataclass(frozen=True)
class RefNode:
    hash: bytes
    leaf: tuple[bytes, bytes] | None = None  # (path, value hash) when the subtree holds exactly one leaf
    left: RefNode | None = None
    right: RefNode | None = None


def ref_build(leaves: list[tuple[bytes, bytes]], depth: int = 0) -> RefNode:
    """The tree over (path, value hash) leaves: empty = zeros, one leaf = its leaf node, else an inner node."""
    if not leaves:
        return RefNode(ZERO)
    if len(leaves) == 1:
        return RefNode(ref_leaf(*leaves[0]), leaf=leaves[0])
    left = ref_build([x for x in leaves if ref_bit(x[0], depth) == 0], depth + 1)
    right = ref_build([x for x in leaves if ref_bit(x[0], depth) == 1], depth + 1)
    return RefNode(ref_inner(left.hash, right.hash), left=left, right=right)


def ref_prove(tree: RefNode, path: bytes) -> tuple[tuple[bytes, bytes] | None, list[bytes]]:
    """Walk down to the leaf or empty subtree where `path` ends; the siblings are returned bottom-up."""
    node, depth, top_down = tree, 0, []
    while node.left is not None and node.right is not None:
        go_right = ref_bit(path, depth)
        top_down.append(node.left.hash if go_right else node.right.hash)
        node = node.right if go_right else node.left
        depth += 1
    return node.leaf, top_down[::-1]


def ref_verify(
    root: bytes, identifier: str, value: str | None, leaf: tuple[bytes, bytes] | None, siblings: tuple[bytes, ...]
) -> bool:
    path, d = ref_path(identifier), len(siblings)
    if value is not None:
        if leaf is not None:
            return False
        node = ref_leaf(path, sha(value.encode("utf-8")))
    elif leaf is None:
        node = ZERO
    else:
        if leaf[0] == path or ref_shared_bits(leaf[0], path) < d:
            return False
        node = ref_leaf(*leaf)
    for depth in range(d - 1, -1, -1):  # the sibling beside the path at depth+1
        sib = siblings[d - 1 - depth]
        node = ref_inner(sib, node) if ref_bit(path, depth) else ref_inner(node, sib)
    return node == root


def ref_value(identifier: str, version: int, status: str, since: str, until: str | None, event_index: int) -> str:
    # For ASCII keys, strings, small integers and null, sorted compact json.dumps is RFC 8785.
    doc = {
        "identifier": identifier,
        "version": version,
        "status": status,
        "valid_from": since,
        "valid_until": until,
        "event_index": event_index,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- test fixtures: maps, checkpoints, proofs ---------------------------------------------------------------------

ORIGIN = "ledger.test.example/log"
SIGNER = NoteSigner(ORIGIN, h.ed25519("status-map-log"))
LOG_ROOT = sha(b"some log root")
PREFIX = "1.2.156.3005.2.11100000000013338W011.11430000006122244L"
STATUSES = ("active", "suspended", "revoked", "superseded")


def checkpoint(root: bytes, signer: NoteSigner = SIGNER, origin: str = ORIGIN, extensions: Any = None) -> str:
    lines = (f"status-map {base64.b64encode(root).decode()}",) if extensions is None else tuple(extensions)
    return sign_note(CheckpointBody(origin, 1000, LOG_ROOT, lines).to_text(), signer)


@dataclass(frozen=True)
class RefMap:
    values: dict[str, str]
    tree: RefNode
    note: str

    def proof(self, identifier: str) -> StatusProof:
        path = ref_path(identifier)
        leaf, siblings = ref_prove(self.tree, path)
        if leaf is not None and leaf[0] == path:
            return StatusProof(self.note, identifier, self.values[identifier], None, tuple(siblings))
        return StatusProof(self.note, identifier, None, leaf, tuple(siblings))


def ref_map(values: dict[str, str]) -> RefMap:
    tree = ref_build([(ref_path(i), sha(v.encode())) for i, v in values.items()])
    return RefMap(values, tree, checkpoint(tree.hash))


def random_value(rng: random.Random, identifier: str) -> str:
    since = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(10 * 365 * 86400))
    until = None if rng.random() < 0.2 else since + timedelta(days=rng.randrange(1, 3650))
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return ref_value(
        identifier,
        rng.randrange(1, 1000),
        rng.choice(STATUSES),
        since.strftime(fmt),
        None if until is None else until.strftime(fmt),
        rng.randrange(2**40),
    )


def random_map(rng: random.Random, size: int) -> RefMap:
    ids = [f"{PREFIX}.{rng.randrange(10**11):011d}.{n:05d}.U" for n in range(size)]
    return ref_map({i: random_value(rng, i) for i in ids})


def absent_ids(rng: random.Random, count: int) -> list[str]:
    return [f"{PREFIX}.absent.{rng.randrange(10**12)}.{n}" for n in range(count)]


def assert_both_accept(m: RefMap, proof: StatusProof) -> ProvenStatus:
    assert ref_verify(m.tree.hash, proof.identifier, proof.value, proof.leaf, proof.siblings)
    assert recompute_root(proof.identifier, proof.value, proof.leaf, proof.siblings) == m.tree.hash
    proven = verify_status_proof(proof, SIGNER.verifier, ORIGIN)
    assert proven.map_root == m.tree.hash
    assert (proven.size, proven.log_root, proven.identifier, proven.checkpoint) == (
        1000,
        LOG_ROOT,
        proof.identifier,
        m.note,
    )
    assert (proven.value is None) == (proof.value is None)
    if proven.value is not None:
        assert proven.value.to_canonical() == proof.value
    assert parse_status_proof(json.loads(json.dumps(proof.to_json()))) == proof
    return proven


def assert_both_reject(m: RefMap, proof: StatusProof) -> None:
    assert not ref_verify(m.tree.hash, proof.identifier, proof.value, proof.leaf, proof.siblings)
    with pytest.raises(VerificationError):
        verify_status_proof(proof, SIGNER.verifier, ORIGIN)


def flip(raw: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(raw) * 8)
    out = bytearray(raw)
    out[i // 8] ^= 0x80 >> (i % 8)
    return bytes(out)


# --- cross-checks on random maps ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_map() -> RefMap:
    return random_map(random.Random(20261204), 10_000)


def test_big_map_proofs_verify_both_ways_and_tampering_fails(big_map: RefMap) -> None:
    rng = random.Random(7)
    present = rng.sample(sorted(big_map.values), 50)
    proofs = [big_map.proof(i) for i in present] + [big_map.proof(i) for i in absent_ids(rng, 50)]
    kinds = {("member" if p.value else "leaf" if p.leaf else "empty") for p in proofs}
    assert kinds == {"member", "leaf", "empty"}  # every shape of proof is exercised
    for proof in proofs:
        assert_both_accept(big_map, proof)
        assert 10 <= len(proof.siblings) <= 40  # about log2(10,000) for random paths
        for i in range(len(proof.siblings)):  # each sibling, one flipped bit
            siblings = list(proof.siblings)
            siblings[i] = flip(siblings[i], rng)
            assert_both_reject(big_map, replace(proof, siblings=tuple(siblings)))
        assert_both_reject(big_map, replace(proof, siblings=proof.siblings[1:]))
        assert_both_reject(big_map, replace(proof, siblings=(*proof.siblings, ZERO)))
        if proof.leaf is not None:
            path, vh = proof.leaf
            assert_both_reject(big_map, replace(proof, leaf=(path, flip(vh, rng))))
            # a path that still shares the first D bits but is another leaf's path: the root no longer matches
            moved = bytearray(path)
            moved[-1] ^= 1
            assert bytes(moved) != ref_path(proof.identifier)
            assert_both_reject(big_map, replace(proof, leaf=(bytes(moved), vh)))


def test_small_random_maps_every_key() -> None:
    rng = random.Random(99)
    for size in [*range(9), 16, 33, 100, 257]:
        m = random_map(rng, size)
        for identifier in [*m.values, *absent_ids(rng, 10)]:
            proven = assert_both_accept(m, m.proof(identifier))
            assert (proven.value is not None) == (identifier in m.values)


def test_changed_value_is_rejected(big_map: RefMap) -> None:
    identifier = sorted(big_map.values)[17]
    proof = big_map.proof(identifier)
    doc = json.loads(proof.value or "")
    for key, new in [("status", "revoked" if doc["status"] != "revoked" else "active"), ("event_index", 1)]:
        changed = json.dumps(doc | {key: new}, sort_keys=True, separators=(",", ":"))
        assert_both_reject(big_map, replace(proof, value=changed))
    assert_both_reject(big_map, replace(proof, value=None))  # a member cannot be proven absent with its path
    with pytest.raises(MalformedError, match="value"):
        verify_status_proof(replace(proof, value=(proof.value or "").replace(",", ", ")), SIGNER.verifier)


def test_wrong_identifier_is_rejected(big_map: RefMap) -> None:
    a, b = sorted(big_map.values)[:2]
    proof_a = big_map.proof(a)
    with pytest.raises(VerificationError, match="identifier"):  # value names a, proof names b
        verify_status_proof(replace(proof_a, identifier=b), SIGNER.verifier, ORIGIN)
    assert_both_reject(big_map, replace(proof_a, identifier=b, value=big_map.values[b]))
    # A non-membership proof that ends at leaf x cannot be reused to claim that x itself is absent.
    absent = next(i for i in absent_ids(random.Random(3), 500) if big_map.proof(i).leaf is not None)
    proof = big_map.proof(absent)
    assert proof.leaf is not None
    owner = next(i for i in big_map.values if ref_path(i) == proof.leaf[0])
    assert_both_reject(big_map, replace(proof, identifier=owner))
    # Nor can an empty-subtree proof be moved to a present identifier.
    empty = next(big_map.proof(i) for i in absent_ids(random.Random(4), 500) if big_map.proof(i).leaf is None)
    assert_both_reject(big_map, replace(empty, identifier=a))


def test_checkpoint_rejections(big_map: RefMap) -> None:
    proof = big_map.proof(sorted(big_map.values)[0])
    other_key = NoteSigner(ORIGIN, h.ed25519("another log key"))
    with pytest.raises(VerificationError):
        verify_status_proof(replace(proof, checkpoint=checkpoint(big_map.tree.hash, other_key)), SIGNER.verifier)
    with pytest.raises(VerificationError, match="origin"):
        verify_status_proof(proof, SIGNER.verifier, "another.example/log")
    other_origin = NoteSigner("another.example/log", h.ed25519("status-map-log"))
    with pytest.raises(VerificationError):
        verify_status_proof(replace(proof, checkpoint=checkpoint(big_map.tree.hash, other_origin)), SIGNER.verifier)
    with pytest.raises(VerificationError, match="map root"):  # a well-signed checkpoint of another map
        verify_status_proof(replace(proof, checkpoint=checkpoint(sha(b"other map"))), SIGNER.verifier, ORIGIN)
    good_line = f"status-map {base64.b64encode(big_map.tree.hash).decode()}"
    for extensions in [(), ("other-ext 1",), ("other-ext 1", good_line), (good_line[:-4] + "AA==",)]:
        note = checkpoint(big_map.tree.hash, extensions=extensions)
        with pytest.raises(MalformedError, match=r"status-map|checkpoint"):
            verify_status_proof(replace(proof, checkpoint=note), SIGNER.verifier, ORIGIN)
    # A later extension line after the status-map line is allowed.
    note = checkpoint(big_map.tree.hash, extensions=(good_line, "other-ext 1"))
    assert verify_status_proof(replace(proof, checkpoint=note), SIGNER.verifier, ORIGIN).map_root == big_map.tree.hash


def test_map_root_reads_the_first_extension_line() -> None:
    root = sha(b"x")
    body = parse_checkpoint(f"o\n1\n{base64.b64encode(ZERO).decode()}\nstatus-map {base64.b64encode(root).decode()}\n")
    assert map_root(body) == root
    for bad in ["status-map", "status-map  " + base64.b64encode(root).decode(), "status-map " + "A" * 43 + "B"]:
        with pytest.raises(MalformedError, match="status-map"):
            map_root(replace(body, extensions=(bad,)))


# --- edge cases ---------------------------------------------------------------------------------------------------


def test_empty_map() -> None:
    m = ref_map({})
    assert m.tree.hash == ZERO
    proof = m.proof(f"{PREFIX}.x")
    assert proof == StatusProof(m.note, f"{PREFIX}.x", None, None, ())
    assert assert_both_accept(m, proof).map_root == ZERO
    assert_both_reject(m, replace(proof, value=ref_value(f"{PREFIX}.x", 1, "active", "2026-01-01T00:00:00Z", None, 0)))
    assert_both_reject(m, replace(proof, siblings=(ZERO,)))


def test_one_leaf() -> None:
    identifier = f"{PREFIX}.20230000403.001.U"
    value = ref_value(identifier, 1, "active", "2026-12-04T00:00:00Z", None, 5)
    m = ref_map({identifier: value})
    assert m.tree.hash == ref_leaf(ref_path(identifier), sha(value.encode()))
    member = m.proof(identifier)
    assert (member.value, member.leaf, member.siblings) == (value, None, ())
    assert_both_accept(m, member)
    absent = m.proof(f"{PREFIX}.other")
    assert (absent.value, absent.leaf, absent.siblings) == (None, (ref_path(identifier), sha(value.encode())), ())
    assert_both_accept(m, absent)
    assert_both_reject(m, replace(absent, leaf=None))
    assert_both_reject(m, replace(member, siblings=(ZERO,)))  # the leaf is the root, not one level down


def close_pair(min_bits: int) -> tuple[str, str, int]:
    """Two identifiers whose paths share at least `min_bits` leading bits (a birthday search over a counter)."""
    seen: dict[int, str] = {}
    n = 0
    while True:
        identifier = f"{PREFIX}.{n:011d}.001.U"
        top = int.from_bytes(ref_path(identifier), "big") >> (256 - min_bits)
        if top in seen:
            a = seen[top]
            return a, identifier, ref_shared_bits(ref_path(a), ref_path(identifier))
        seen[top] = identifier
        n += 1


def test_two_leaves_with_a_long_shared_prefix() -> None:
    a, b, k = close_pair(12)
    assert k >= 12
    va = ref_value(a, 1, "active", "2026-12-04T00:00:00Z", "2031-12-03T00:00:00Z", 0)
    vb = ref_value(b, 2, "suspended", "2025-01-01T00:00:00Z", None, 9)
    m = ref_map({a: va, b: vb})
    leaf_a, leaf_b = ref_leaf(ref_path(a), sha(va.encode())), ref_leaf(ref_path(b), sha(vb.encode()))
    node = ref_inner(leaf_a, leaf_b) if ref_bit(ref_path(a), k) == 0 else ref_inner(leaf_b, leaf_a)
    for depth in range(k - 1, -1, -1):
        node = ref_inner(ZERO, node) if ref_bit(ref_path(a), depth) else ref_inner(node, ZERO)
    assert m.tree.hash == node
    proof_a = m.proof(a)
    assert proof_a.siblings == (leaf_b, *([ZERO] * k))  # the leaves sit at depth k+1
    assert m.proof(b).siblings == (leaf_a, *([ZERO] * k))
    for identifier in (a, b):
        assert_both_accept(m, m.proof(identifier))
    # An absent identifier that leaves the shared prefix at bit j ends at an empty subtree at depth j+1.
    for identifier in absent_ids(random.Random(5), 40):
        proof = m.proof(identifier)
        j = ref_shared_bits(ref_path(identifier), ref_path(a))
        if j < k:
            assert (proof.leaf, len(proof.siblings)) == (None, j + 1)
            assert proof.siblings[1:] == (ZERO,) * j
        assert_both_accept(m, proof)


def test_other_leaf_must_share_the_prefix() -> None:
    a, b, k = close_pair(12)
    va = ref_value(a, 1, "active", "2026-12-04T00:00:00Z", None, 0)
    m = ref_map({a: va})
    # Claim b is absent because "a sits where b would be": only true when paths share D bits; with D > k they don't.
    siblings = (ZERO,) * (k + 1)
    proof = StatusProof(m.note, b, None, (ref_path(a), sha(va.encode())), siblings)
    assert not ref_verify(m.tree.hash, b, None, proof.leaf, siblings)
    with pytest.raises(VerificationError, match="share"):
        verify_status_proof(proof, SIGNER.verifier, ORIGIN)
    with pytest.raises(VerificationError, match="own leaf"):
        verify_status_proof(replace(proof, identifier=a, siblings=()), SIGNER.verifier, ORIGIN)


# --- the status value ---------------------------------------------------------------------------------------------


def test_status_value_round_trip_and_canonical_form() -> None:
    identifier = "1.2.156.3005.2.电子证照.001"  # non-ASCII: RFC 8785 writes it as UTF-8, not \\u escapes
    value = StatusValue(
        identifier,
        3,
        "superseded",
        datetime(2026, 12, 4, tzinfo=UTC),
        datetime(2031, 12, 3, 23, 59, 59, tzinfo=UTC),
        42,
    )
    text = value.to_canonical()
    assert text == ref_value(identifier, 3, "superseded", "2026-12-04T00:00:00Z", "2031-12-03T23:59:59Z", 42)
    assert parse_status_value(text) == value
    open_ended = replace(value, valid_until=None)
    assert '"valid_until":null' in open_ended.to_canonical()
    assert parse_status_value(open_ended.to_canonical()) == open_ended


@pytest.mark.parametrize(
    "changes",
    [
        {"version": 0},
        {"version": 1000},
        {"version": True},
        {"status": "expired"},
        {"event_index": -1},
        {"identifier": ""},
        {"valid_from": datetime(2026, 1, 1)},  # naive
        {"valid_from": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=8)))},
        {"valid_until": datetime(2026, 1, 1, 0, 0, 0, 500, tzinfo=UTC)},
    ],
)
def test_status_value_rejects_bad_fields(changes: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "identifier": "x",
        "version": 1,
        "status": "active",
        "valid_from": datetime(2026, 1, 1, tzinfo=UTC),
        "valid_until": None,
        "event_index": 0,
    }
    with pytest.raises(MalformedError, match=f"value.{next(iter(changes))}"):
        StatusValue(**(fields | changes))


# --- malformed documents ------------------------------------------------------------------------------------------

GOOD_ID = f"{PREFIX}.20230000403.001.U"
GOOD_VALUE = ref_value(GOOD_ID, 1, "active", "2026-12-04T00:00:00Z", None, 5)


def value_with(**changes: Any) -> str:
    doc: dict[str, Any] = json.loads(GOOD_VALUE) | changes
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def member_doc() -> dict[str, Any]:
    return (
        ref_map({GOOD_ID: GOOD_VALUE, f"{PREFIX}.2": GOOD_VALUE.replace(GOOD_ID, f"{PREFIX}.2")})
        .proof(GOOD_ID)
        .to_json()
    )


def leaf_doc() -> dict[str, Any]:
    return ref_map({GOOD_ID: GOOD_VALUE}).proof(f"{PREFIX}.absent").to_json()


B64_31 = base64.b64encode(bytes(31)).decode()
B64_32 = base64.b64encode(bytes(32)).decode()
NON_CANONICAL_B64 = "A" * 42 + "B="  # decodes to 32 bytes, but the unused low bits are not zero

MALFORMED: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("missing key", lambda d: {k: v for k, v in d.items() if k != "siblings"}, "missing proof.siblings"),
    ("extra key", lambda d: d | {"extra": 1}, "unexpected key 'extra'"),
    ("not an object", lambda d: [d], "proof"),
    ("checkpoint not a string", lambda d: d | {"checkpoint": 5}, "checkpoint"),
    ("empty identifier", lambda d: d | {"identifier": ""}, "identifier"),
    ("identifier not a string", lambda d: d | {"identifier": 1}, "identifier"),
    ("siblings not a list", lambda d: d | {"siblings": "AAAA"}, "siblings"),
    ("257 siblings", lambda d: d | {"siblings": [base64.b64encode(ZERO).decode()] * 257}, "siblings"),
    ("sibling bad base64", lambda d: d | {"siblings": ["!!!!", *d["siblings"][1:]]}, r"siblings\[0\]"),
    ("sibling unpadded", lambda d: d | {"siblings": [d["siblings"][0].rstrip("=")]}, r"siblings\[0\]"),
    ("sibling 31 bytes", lambda d: d | {"siblings": [B64_31]}, r"siblings\[0\]"),
    ("sibling non-canonical", lambda d: d | {"siblings": [NON_CANONICAL_B64]}, r"siblings\[0\]"),
    ("sibling not a string", lambda d: d | {"siblings": [None]}, r"siblings\[0\]"),
    ("value not a string", lambda d: d | {"value": json.loads(GOOD_VALUE)}, "value"),
    ("value not JSON", lambda d: d | {"value": "{"}, "value"),
    ("value with spaces", lambda d: d | {"value": GOOD_VALUE.replace(",", ", ")}, "value"),
    (
        "value keys unsorted",
        lambda d: d | {"value": json.dumps(dict(reversed(json.loads(GOOD_VALUE).items())), separators=(",", ":"))},
        "value",
    ),
    ("value escaped", lambda d: d | {"value": GOOD_VALUE.replace("active", "\\u0061ctive")}, "value"),
    ("value duplicate key", lambda d: d | {"value": GOOD_VALUE[:-1] + ',"version":1}'}, "value"),
    ("value missing key", lambda d: d | {"value": GOOD_VALUE.replace(',"version":1', "")}, "missing value.version"),
    ("value other identifier", lambda d: d | {"value": value_with(identifier="other")}, "value.identifier"),
    ("value bad status", lambda d: d | {"value": value_with(status="expired")}, "value.status"),
    ("value version 0", lambda d: d | {"value": value_with(version=0)}, "value.version"),
    ("value version float", lambda d: d | {"value": GOOD_VALUE.replace('"version":1', '"version":1.0')}, "value"),
    ("value version string", lambda d: d | {"value": value_with(version="1")}, "value.version"),
    ("value negative index", lambda d: d | {"value": value_with(event_index=-1)}, "value.event_index"),
    ("value huge index", lambda d: d | {"value": value_with(event_index=2**60)}, "value.event_index"),
    ("value fractional time", lambda d: d | {"value": value_with(valid_from="2026-12-04T00:00:00.5Z")}, "valid_from"),
    ("value offset time", lambda d: d | {"value": value_with(valid_from="2026-12-04T08:00:00+08:00")}, "valid_from"),
    ("value impossible date", lambda d: d | {"value": value_with(valid_until="2026-02-30T00:00:00Z")}, "valid_until"),
    ("value lowercase z", lambda d: d | {"value": value_with(valid_until="2026-02-03T00:00:00z")}, "valid_until"),
    (
        "leaf in a membership proof",
        lambda d: d | {"leaf": {"path": B64_32, "value_hash": B64_32}},
        "leaf: must be null",
    ),
]

MALFORMED_LEAF: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("leaf not an object", lambda d: d | {"leaf": []}, "leaf"),
    ("leaf missing key", lambda d: d | {"leaf": {"path": d["leaf"]["path"]}}, "missing leaf.value_hash"),
    ("leaf extra key", lambda d: d | {"leaf": d["leaf"] | {"x": 1}}, "leaf: unexpected key 'x'"),
    ("leaf path 31 bytes", lambda d: d | {"leaf": d["leaf"] | {"path": B64_31}}, "leaf.path"),
    ("leaf hash bad base64", lambda d: d | {"leaf": d["leaf"] | {"value_hash": "A===" * 11}}, "leaf.value_hash"),
    (
        "leaf hash non-canonical",
        lambda d: d | {"leaf": d["leaf"] | {"value_hash": NON_CANONICAL_B64}},
        "leaf.value_hash",
    ),
]


def test_good_documents_parse() -> None:
    for doc in (member_doc(), leaf_doc()):
        proof = parse_status_proof(doc)
        assert proof.to_json() == doc
        verify_status_proof(proof, SIGNER.verifier, ORIGIN)


@pytest.mark.parametrize(("mutate", "field"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_membership_documents(mutate: Callable[[dict[str, Any]], object], field: str) -> None:
    with pytest.raises(MalformedError, match=field):
        parse_status_proof(mutate(member_doc()))


@pytest.mark.parametrize(("mutate", "field"), [m[1:] for m in MALFORMED_LEAF], ids=[m[0] for m in MALFORMED_LEAF])
def test_malformed_leaf_documents(mutate: Callable[[dict[str, Any]], object], field: str) -> None:
    with pytest.raises(MalformedError, match=field):
        parse_status_proof(mutate(leaf_doc()))
