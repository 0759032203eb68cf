"""Collecting cosignatures on our checkpoints from a peer's witness over HTTP; the worker round inside `serve`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient

from anchors.collector import WitnessEndpoint, collect_cosignatures, submit_checkpoint
from anchors.cosignature import CosignatureVerifier
from anchors.errors import SizeConflictError, WitnessRefusal, WitnessUnavailableError
from anchors.store import AnchorStore
from anchors.witness import AddCheckpointRequest
from signatures.errors import VerificationError
from tests.anchors.helpers import append, ed_key
from tests.conftest import FakeClock
from trustledger.anchoring import AnchorWorker, anchor_store, region_federation, witness_signer
from trustledger.region import Region, init_region
from trustledger.settings import Settings
from verify_api.app import create_app

HA = ("410000", "河南省", "ledger.ha.gov.example/log")
JS = ("320000", "江苏省", "ledger.js.gov.example/log")


def _regions(tmp_path: Path, ha_url: str) -> Iterator[tuple[Region, TestClient]]:
    clock = FakeClock()
    ha = init_region(Settings(home=tmp_path / "ha", database_url=ha_url), *HA, clock)
    js = init_region(Settings(home=tmp_path / "js", database_url=f"sqlite:///{tmp_path / 'js.db'}"), *JS, clock)
    AnchorStore(js.store.engine).add_witnessed_log(HA[2], [ha.log_signer.verifier.to_string()])
    with TestClient(create_app(js), base_url="http://js.test") as client:
        yield ha, client
    ha.close()
    js.close()


@pytest.fixture
def stored_regions(tmp_path: Path, db_url: str) -> Iterator[tuple[Region, TestClient]]:
    """河南 (our log and what we collect, on each database) and 江苏's API (the witness) behind a TestClient."""
    yield from _regions(tmp_path, db_url)


@pytest.fixture
def regions(tmp_path: Path) -> Iterator[tuple[Region, TestClient]]:
    """The same on SQLite only, for tests of the protocol rather than of storage."""
    yield from _regions(tmp_path, f"sqlite:///{tmp_path / 'ha.db'}")


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _endpoint(client: TestClient) -> WitnessEndpoint:
    return WitnessEndpoint("http://js.test", witness_signer(client.app.state.region).verifier)  # type: ignore[attr-defined]


def test_collect_retries_from_the_size_the_witness_names(stored_regions: tuple[Region, TestClient]) -> None:
    ha, client = stored_regions
    endpoint = _endpoint(client)
    first = ha.sign_checkpoint()
    submit_checkpoint(client, endpoint, AddCheckpointRequest(0, (), first))  # the witness moved on without us noting
    append(ha.store, 25, label="ha")
    note = ha.sign_checkpoint()
    store = anchor_store(ha)
    assert store.witness_progress(endpoint.verifier.name) == 0  # so we send old 0 and get a 409 first
    (cosig,) = collect_cosignatures(store, ha.log, note, [endpoint], client)
    assert cosig.witness == endpoint.verifier.name and cosig.tree_size == ha.log.size()
    assert store.witness_progress(endpoint.verifier.name) == ha.log.size()
    assert [c.line for c in store.cosignatures_for(note)] == [cosig.line]


def test_refusals_and_bad_answers_are_reported_not_stored(regions: tuple[Region, TestClient]) -> None:
    ha, client = regions
    note = ha.sign_checkpoint()
    good = _endpoint(client)
    errors: list[Exception] = []
    impostor = WitnessEndpoint(good.url, CosignatureVerifier(good.verifier.name, bytes(32)))  # other key: other ID
    got = collect_cosignatures(
        anchor_store(ha), ha.log, note, [impostor], client, on_error=lambda _, e: errors.append(e)
    )
    assert got == [] and errors == []  # its line is not by the key we know: ignored, nothing collected
    with pytest.raises(SizeConflictError):
        submit_checkpoint(client, good, AddCheckpointRequest(5, (), note))
    unknown = ha.sign_checkpoint().replace(HA[2], "nobody.example/log")
    with pytest.raises(WitnessRefusal) as err:
        submit_checkpoint(client, good, AddCheckpointRequest(0, (), unknown))
    assert err.value.status == 404
    with pytest.raises(WitnessUnavailableError):
        submit_checkpoint(
            httpx.Client(), WitnessEndpoint("http://127.0.0.1:9", good.verifier), AddCheckpointRequest(0, (), note)
        )


def test_a_forged_line_by_the_known_witness_key_fails(regions: tuple[Region, TestClient]) -> None:
    ha, client = regions
    note = ha.sign_checkpoint()
    good = _endpoint(client)
    line = submit_checkpoint(client, good, AddCheckpointRequest(0, (), note))[0].to_line()
    forged = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text=forged)

    with httpx.Client(transport=httpx.MockTransport(handler)) as liar, pytest.raises(VerificationError):
        submit_checkpoint(liar, good, AddCheckpointRequest(0, (), note))


def test_worker_round_anchors_and_syncs(regions: tuple[Region, TestClient]) -> None:
    ha, _ = regions
    region_federation(ha, httpx.Client()).add_peer(JS[2], "http://127.0.0.1:9", raw_public(ed_key("root:js")))
    worker = AnchorWorker(ha, interval=3600, sync_every=1)
    worker.tick()
    assert anchor_store(ha).latest_timestamp() is not None
    assert worker.errors == 1  # the unreachable peer's sync, logged and counted, not raised
    peer = anchor_store(ha).peer(JS[2])
    assert peer is not None and peer.last_error is not None
    worker.start()
    worker.stop()
