"""Independent check with Go: golang.org/x/mod/sumdb/note opens our cosigned checkpoints.

Go's note verifies the log signature and ignores our cosignature lines (unknown name/key-hash pairs), and a
cosignature/v1 verifier written in Go from the spec text alone accepts our lines and rejects a flipped bit.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from anchors.cosignature import add_cosignatures
from ledger.log import Log
from tests.anchors.conftest import ORIGIN
from tests.anchors.helpers import append, log_signer, sign, witness_signer

GOPATH = "/usr/share/gocode"  # Debian's golang-golang-x-mod-dev (installed by scripts/system-deps.sh)


@pytest.fixture(scope="module")
def gocosig(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not Path(GOPATH, "src/golang.org/x/mod/sumdb/note").is_dir():
        pytest.fail("Go and golang-golang-x-mod-dev are required: run scripts/system-deps.sh")
    out = tmp_path_factory.mktemp("go") / "gocosig"
    env = dict(os.environ, GO111MODULE="off", GOPATH=GOPATH, GOCACHE=str(out.parent / "cache"), GOFLAGS="")
    subprocess.run([go, "build", "-o", str(out), "main.go"], cwd=Path(__file__).parent / "gocosig", env=env, check=True)
    return out


def _go(binary: Path, note: str) -> dict[str, object]:
    signer = witness_signer()
    doc = {
        "note": note,
        "log_vkey": log_signer(ORIGIN).verifier.to_string(),
        "witness_name": signer.name,
        "witness_key": base64.b64encode(signer.verifier.public_key).decode(),
    }
    result = subprocess.run([str(binary)], input=json.dumps(doc), capture_output=True, text=True, check=True)
    out: dict[str, object] = json.loads(result.stdout)
    return out


def _cosigned(log: Log) -> str:
    append(log.store, 300, label="go")
    note = sign(log, log_signer(ORIGIN))
    text = note[: note.index("\n\n") + 1]
    return add_cosignatures(note, [witness_signer().cosign(text, 1_763_683_200)])


def test_go_note_opens_our_cosigned_checkpoint(gocosig: Path, log: Log) -> None:
    cosigned = _cosigned(log)
    assert cosigned.split("\n")[3].startswith("status-map ")  # Go checks the extension line's signatures too
    out = _go(gocosig, cosigned)
    assert out == {
        "log_only": "ok",
        "log_only_verified": 1,
        "log_only_unverified": 1,  # the cosignature: an unknown key to a plain note verifier, ignored
        "with_witness": "ok",
        "with_witness_verified": 2,
    }


def test_go_rejects_a_flipped_cosignature(gocosig: Path, log: Log) -> None:
    note = _cosigned(log)
    dash, name, blob = note.rstrip("\n").split("\n")[-1].split(" ")
    raw = bytearray(base64.b64decode(blob))
    raw[20] ^= 0x01
    forged = note[: note.rindex(dash)] + f"{dash} {name} {base64.b64encode(bytes(raw)).decode()}\n"
    out = _go(gocosig, forged)
    assert out["log_only"] == "ok"  # still just an unknown signature to a plain verifier
    assert "invalid signature" in str(out["with_witness"])
