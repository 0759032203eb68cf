"""Independent check: Go's golang.org/x/mod/sumdb/note and tlog accept our checkpoints, tiles and proofs."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ledger.log import Log, tile_path, tile_paths
from ledger.persistence import LedgerRecorder
from ledger.statusmap import MapUpdate
from ledger.store import LedgerStore
from signatures.note import NoteSigner
from signatures.statusmap import path_of
from tests.conftest import FakeClock
from tests.ledger.helpers import append

GOPATH = "/usr/share/gocode"  # Debian's golang-golang-x-mod-dev (installed by scripts/system-deps.sh)


@pytest.fixture(scope="session")
def gocheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/tlog").is_dir():
        pytest.fail("Go and golang-golang-x-mod-dev are required: run scripts/system-deps.sh")
    out = tmp_path_factory.mktemp("go") / "gocheck"
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(out.parent / "cache"), GOFLAGS="")
    subprocess.run([go, "build", "-o", str(out), "main.go"], cwd=Path(__file__).parent / "gocheck", env=env, check=True)
    return out


def _export_tiles(log: Log, size: int, directory: Path) -> None:
    for level, index, width in tile_paths(size):
        path = directory / tile_path(level, index, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(log.tile(level, index, width))


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@pytest.mark.parametrize("size", [1, 7, 256, 1000, 66000])
def test_go_accepts_checkpoint_tiles_and_proofs(
    size: int, store: LedgerStore, clock: FakeClock, note_signer: NoteSigner, gocheck: Path, tmp_path: Path
) -> None:
    append(LedgerRecorder(store, clock=clock), size, batch=5000)
    log = Log(store, note_signer.name)
    present = [f"licence-{i}" for i in range(min(size, 40))]  # status map entries (any text: Go hashes it)
    with store.write() as conn:
        updates = [MapUpdate(path_of(i), "s", json.dumps({"identifier": i, "status": "active"})) for i in present]
        log.status_map.apply(conn, updates, size)
    cp = log.sign_checkpoint(note_signer, clock())
    status_proofs = [
        {**log.status_proof(i).to_json(), "present": i in present} for i in [*present[:5], "absent-1", "absent-2"]
    ]
    _export_tiles(log, size, tmp_path / "tiles")
    indexes = sorted({0, size // 3, size // 2, size - 1})
    inclusion = []
    for index in indexes:
        for tree_size in sorted({index + 1, size, (index + 1 + size) // 2}):
            n, proof = log.inclusion_proof(index, tree_size)
            inclusion.append({"leaf_index": index, "tree_size": n, "hashes": _b64(proof)})
    consistency = [
        {"first": a, "second": b, "hashes": _b64(log.consistency_proof(a, b))}
        for a, b in [(1, size), (size // 2, size), (size // 3, size // 2 + 1)]
        if 0 < a < b <= size
    ]
    doc = {
        "vkey": note_signer.verifier.to_string(),
        "note": cp.note,
        "origin": note_signer.name,
        "tiles_dir": str(tmp_path / "tiles"),
        "leaves": {str(i): base64.b64encode(log.leaf(i)[0]).decode() for i in indexes},
        "inclusion": inclusion,
        "consistency": consistency,
        "status_proofs": status_proofs,
    }
    result = subprocess.run([str(gocheck)], input=json.dumps(doc), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_go_rejects_a_forged_checkpoint(
    store: LedgerStore, clock: FakeClock, note_signer: NoteSigner, gocheck: Path, tmp_path: Path
) -> None:
    append(LedgerRecorder(store, clock=clock), 10)
    log = Log(store, note_signer.name)
    note = log.sign_checkpoint(note_signer, clock()).note
    forged = note.replace("\n10\n", "\n11\n")
    _export_tiles(log, 10, tmp_path / "tiles")
    doc = {
        "vkey": note_signer.verifier.to_string(),
        "note": forged,
        "origin": note_signer.name,
        "tiles_dir": str(tmp_path / "tiles"),
        "leaves": {},
        "inclusion": [],
        "consistency": [],
    }
    result = subprocess.run([str(gocheck)], input=json.dumps(doc), capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "note.Open" in result.stderr


@pytest.mark.parametrize("forgery", ["sibling", "value", "absent claimed present"])
def test_go_rejects_a_forged_status_proof(
    forgery: str, store: LedgerStore, clock: FakeClock, note_signer: NoteSigner, gocheck: Path, tmp_path: Path
) -> None:
    append(LedgerRecorder(store, clock=clock), 10)
    log = Log(store, note_signer.name)
    entries = [f"licence-{i}" for i in range(8)]
    with store.write() as conn:
        updates = [MapUpdate(path_of(i), "s", json.dumps({"identifier": i, "status": "revoked"})) for i in entries]
        log.status_map.apply(conn, updates, 10)
    note = log.sign_checkpoint(note_signer, clock()).note
    honest = log.status_proof(entries[3])
    proof: dict[str, object] = {**honest.to_json(), "present": True}
    if forgery == "sibling":
        first = honest.siblings[0]
        forged = [bytes([first[0] ^ 1]) + first[1:], *honest.siblings[1:]]
        proof["siblings"] = [base64.b64encode(s).decode() for s in forged]
    elif forgery == "value":
        proof["value"] = str(honest.value).replace("revoked", "active")
    else:
        proof = {**log.status_proof("licence-absent").to_json(), "present": True}
    _export_tiles(log, 10, tmp_path / "tiles")
    doc = {
        "vkey": note_signer.verifier.to_string(),
        "note": note,
        "origin": note_signer.name,
        "tiles_dir": str(tmp_path / "tiles"),
        "leaves": {},
        "inclusion": [],
        "consistency": [],
        "status_proofs": [proof],
    }
    result = subprocess.run([str(gocheck)], input=json.dumps(doc), capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "status proof" in result.stderr, result.stderr
