"""The federation over real HTTP: two regions on loopback ports witness and sync each other; the witness endpoint's
status codes and content types follow C2SP tlog-witness; bad input is a problem+json, never a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from anchors.cosignature import parse_cosigner_key
from anchors.policy import WitnessPolicy
from anchors.store import AnchorStore
from anchors.witness import AddCheckpointRequest
from clock import Clock, StartedClock
from signatures.errors import VerificationError
from tests.anchors.helpers import append
from tests.conftest import START, FakeClock
from tests.support import deadline, free_port
from trustledger.anchoring import anchor_latest, region_federation, witness_signer
from trustledger.region import Region, init_region
from trustledger.settings import Settings
from trustledger.verification import parse_root_key
from verify_api.app import create_app

HA = ("410000", "河南省", "ledger.ha.gov.example/log")
JS = ("320000", "江苏省", "ledger.js.gov.example/log")


@dataclass
class Served:
    region: Region
    url: str
    server: uvicorn.Server
    thread: threading.Thread


def _serve(region: Region) -> Served:
    port = free_port()
    config = uvicorn.Config(create_app(region), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    budget = deadline(20)
    while not server.started:
        if budget.passed or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return Served(region, f"http://127.0.0.1:{port}", server, thread)


def _region(home: Path, db_url: str, who: tuple[str, str, str], clock: Clock) -> Region:
    return init_region(Settings(home=home, database_url=db_url), *who, clock)


@pytest.fixture
def two_regions(tmp_path: Path, db_url: str) -> Iterator[tuple[Served, Served]]:
    clock = StartedClock(START)  # both regions on one clock that ticks from a chosen instant (servers run for real)
    ha = _serve(_region(tmp_path / "ha", f"sqlite:///{tmp_path / 'ha.db'}", HA, clock))
    js = _serve(_region(tmp_path / "js", db_url, JS, clock))
    try:
        yield ha, js
    finally:
        for s in (ha, js):
            s.server.should_exit = True
            s.thread.join(10)
            s.region.close()


def test_two_regions_witness_and_sync_each_other(two_regions: tuple[Served, Served]) -> None:
    ha, js = two_regions
    with httpx.Client(timeout=10, trust_env=False) as http:
        # 江苏 registers 河南 (keys pinned from 河南's identity) and syncs it: trust list and checkpoint verified.
        ident = http.get(ha.url + "/v1/federation/identity").json()
        js_fed = region_federation(js.region, http)
        root = _raw_root(ident["root_key"])
        js_fed.add_peer(ident["origin"], ha.url, root, ident["witness_key"])
        first = js_fed.sync(HA[2])
        assert first.new_checkpoint and first.trust_list_version >= 1
        # 河南 registers 江苏 as a peer with its witness key; anchoring asks 江苏 to cosign 河南's checkpoint.
        js_ident = http.get(js.url + "/v1/federation/identity").json()
        region_federation(ha.region, http).add_peer(
            JS[2], js.url, _raw_root(js_ident["root_key"]), js_ident["witness_key"]
        )
        report = anchor_latest(ha.region, http)
        assert report.witness_errors == () and len(report.cosignatures) == 1
        append(ha.region.store, 40, label="ha")
        grown = anchor_latest(ha.region, http)  # old = the size 江苏 cosigned; a real consistency proof
        assert grown.anchor.tree_size == report.anchor.tree_size + 40 and len(grown.cosignatures) == 1
        # Anyone can check the anchor under a 1-of-1 policy with 江苏's witness key.
        anchors = http.get(f"{ha.url}/v1/anchors/{grown.anchor.tree_size}").json()
        (cp,) = anchors["checkpoints"]
        policy = WitnessPolicy(
            HA[2], ha.region.log_signer.verifier, (parse_cosigner_key(js_ident["witness_key"]),), threshold=1
        )
        witnessed = policy.verify(cp["note"] + "".join(cp["cosignatures"]))
        assert witnessed.body.size == grown.anchor.tree_size
        with pytest.raises(VerificationError):
            policy.verify(cp["note"])  # no cosignature: the log alone does not satisfy the policy
        # 江苏 syncs again: the grown checkpoint is consistent with the one it saw and with the one it cosigned.
        again = js_fed.sync(HA[2])
        assert again.checkpoint_size == grown.anchor.tree_size
        peers = http.get(js.url + "/v1/federation/peers").json()["peers"]
        assert [(p["origin"], p["checkpoint_size"], p["last_error"]) for p in peers] == [
            (HA[2], grown.anchor.tree_size, None)
        ]
        assert http.get(js.url + "/v1/federation/alarms").json()["count"] == 0


def _raw_root(spki_b64: str) -> bytes:
    return parse_root_key(spki_b64).public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.fixture
def client(tmp_path: Path, clock: FakeClock) -> Iterator[TestClient]:
    region = _region(tmp_path / "js", f"sqlite:///{tmp_path / 'js.db'}", JS, clock)
    with TestClient(create_app(region), raise_server_exceptions=False) as c:
        yield c
    region.close()


def _ha_log(tmp_path: Path, clock: FakeClock) -> Region:
    return _region(tmp_path / "ha", f"sqlite:///{tmp_path / 'ha.db'}", HA, clock)


def test_add_checkpoint_statuses_and_content_types(client: TestClient, tmp_path: Path, clock: FakeClock) -> None:
    js: Region = client.app.state.region  # type: ignore[attr-defined]
    ha = _ha_log(tmp_path, clock)
    try:
        note = ha.sign_checkpoint()
        size = ha.log.size()
        body = AddCheckpointRequest(0, (), note).to_body()
        unknown = client.post("/add-checkpoint", content=body)
        assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
        AnchorStore(js.store.engine).add_witnessed_log(HA[2], [ha.log_signer.verifier.to_string()])
        ok = client.post("/add-checkpoint", content=body)
        assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/plain")
        line = ok.text
        assert line.startswith("\u2014 ledger.js.gov.example/witness ") and line.endswith("\n")
        verifier = witness_signer(js).verifier
        assert parse_cosigner_key(client.get("/v1/federation/identity").json()["witness_key"]) == verifier
        stale = client.post("/add-checkpoint", content=body)  # old 0 again
        assert stale.status_code == 409
        assert stale.headers["content-type"] == "text/x.tlog.size" and stale.text == f"{size}\n"
        bad = client.post("/add-checkpoint", content=b"old 01\n\n" + note.encode())
        assert bad.status_code == 400 and bad.json()["type"].endswith("/witness-bad-request")
        assert client.post("/add-checkpoint", content=b"x" * (256 * 1024 + 1)).status_code == 413
        forged = note.replace(f"\n{size}\n", f"\n{size + 1}\n")
        assert client.post("/add-checkpoint", content=f"old {size}\n\n{forged}".encode()).status_code == 403
        append(ha.store, 9, label="ha")
        grown = ha.sign_checkpoint()
        wrong = AddCheckpointRequest(size, (bytes(32),) * 4, grown).to_body()
        bad_proof = client.post("/add-checkpoint", content=wrong)
        assert bad_proof.status_code == 422 and bad_proof.json()["status"] == 422
    finally:
        ha.close()


def test_federation_read_endpoints(client: TestClient) -> None:
    assert client.get("/v1/federation/peers").json() == {"peers": []}
    alarms = client.get("/v1/federation/alarms").json()
    assert alarms["count"] == 0 and alarms["alarms"] == []
    missing = client.get("/v1/anchors/3")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/anchors/-1").status_code == 422
    assert client.get("/v1/anchors/abc").status_code == 422
    region: Region = client.app.state.region  # type: ignore[attr-defined]
    report = anchor_latest(region)
    body = client.get(f"/v1/anchors/{report.anchor.tree_size}").json()
    (cp,) = body["checkpoints"]
    assert cp["note"] == report.anchor.note and cp["cosignatures"] == []
    ident = client.get("/v1/federation/identity").json()
    assert ident["origin"] == JS[2] and ident["log_verifier_key"] == region.log_signer.verifier.to_string()
    AnchorStore(region.store.engine).raise_alarm(
        origin=HA[2],
        kind="fork-same-size",
        detail="two roots",
        first=(5, "note a"),
        second=(5, "note b"),
        proof=(),
        now=region.clock(),
    )
    (alarm,) = client.get("/v1/federation/alarms").json()["alarms"]
    assert (alarm["origin"], alarm["kind"], alarm["first"], alarm["second"]) == (
        HA[2],
        "fork-same-size",
        {"size": 5, "note": "note a"},
        {"size": 5, "note": "note b"},
    )
