"""Three regions as three `trustledger serve` processes on loopback ports (河南 A and 江苏 B on SQLite, 广东 C on
PostgreSQL), each with its own home, database and origin, federated through the CLI.

One story, in order: they peer, sync and witness each other; a licence issued in A verifies in B and C through their
APIs (C refuses it until its acceptance rule recognises the type); A rotates its key and B follows (old and new
licences verify); A stops — B answers `valid_unconfirmed` while its cached trust list is fresh and `invalid`
(trust list stale) once past `next_update` (B's clock shifted by TRUSTLEDGER_CLOCK_OFFSET_SECONDS, no sleeping); A
comes back serving a forked copy of its log — B and C detect the fork on sync, show the alarm in their API, and B
then trusts none of A's licences.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.seals.wiring import FIELDS, holder_uscc
from tests.support import deadline, free_port
from trustledger.cli import app
from verify_api.client import TrustLedgerClient
from verify_api.federation_schemas import FederationVerifyOut

BUSINESS = "11100000000013338W001"  # 营业执照
ZZ_AMR = "11410100007409378P"  # 郑州市市场监督管理局, issues business licences in A
DAY = 24 * 3600
TRUSTLEDGER = str(Path(sys.executable).with_name("trustledger"))
USE = {"matter_code": "320100-KB-001", "purpose": "跨省通办：开办企业", "consent": "授权书 JS-2026-0001"}

_HARNESS = "TRUSTLEDGER_TEST_"  # scripts/date-free.sh moves every process's clock with these


@dataclass
class Node:
    """One region: its identity, home and database, and the server process while it runs."""

    code: str
    name: str
    origin: str
    home: Path
    db_url: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        # A region's own settings only; the date-free harness's TRUSTLEDGER_TEST_* variables go on to the servers.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLEDGER_") or k.startswith(_HARNESS)}
        env |= {
            "TRUSTLEDGER_HOME": str(self.home),
            "TRUSTLEDGER_DATABASE_URL": self.db_url,
            "TRUSTLEDGER_PUBLIC_BASE_URL": self.url,
            "TRUSTLEDGER_PUBLIC_RATE_LIMIT": "0",
            "TRUSTLEDGER_REMIND_IN_SERVE": "false",
            "TRUSTLEDGER_TRUST_LIST_CACHE_SECONDS": "0",  # a key rotated by the CLI is served at once: no waiting
        }
        return env | extra

    def init(self) -> subprocess.Popen[bytes]:
        args = ["init", "--region-code", self.code, "--region-name", self.name, "--origin", self.origin]
        return subprocess.Popen([TRUSTLEDGER, *args], env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def start(self, **extra: str) -> None:
        self.runs += 1
        log = (self.home.parent / f"{self.home.name}-serve-{self.runs}.log").open("wb")
        args = [TRUSTLEDGER, "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(args, env=self.env(**extra), stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        budget = deadline(60)
        while budget:
            assert self.proc is not None and self.proc.poll() is None, f"{self.origin} server exited"
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.origin} did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def cli(self, *args: str, code: int = 0, **extra: str) -> Any:
        """Run a `trustledger` command against this region's home (in process: the servers are the processes)."""
        env: dict[str, str | None] = {
            k: None for k in os.environ if k.startswith("TRUSTLEDGER_") and not k.startswith(_HARNESS)
        }
        env |= {k: v for k, v in self.env(**extra).items() if k.startswith("TRUSTLEDGER_")}
        result = CliRunner().invoke(app, ["--json", *args], env=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return json.loads(result.stdout) if result.stdout.strip() else None

    def verifier_client(self) -> TrustLedgerClient:
        key = self.cli("apikey", "create", "--role", "verifier", "--principal", f"{self.name}政务服务平台")["key"]
        return TrustLedgerClient(self.url, api_key=key, timeout=30)


def _snapshot(src: Path, dst: Path) -> None:
    """A consistent copy of a region home while its server runs (keys, config, SQLite via the backup API)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("trustledger.db*"))
    with sqlite3.connect(src / "trustledger.db") as source, sqlite3.connect(dst / "trustledger.db") as target:
        source.backup(target)


@pytest.fixture
def regions(tmp_path: Path, pg_schema: str) -> Iterator[tuple[Node, Node, Node]]:
    a = Node(
        "410000",
        "河南省",
        "ledger.ha.gov.example/log",
        tmp_path / "ha",
        f"sqlite:///{tmp_path / 'ha' / 'trustledger.db'}",
    )
    b = Node(
        "320000",
        "江苏省",
        "ledger.js.gov.example/log",
        tmp_path / "js",
        f"sqlite:///{tmp_path / 'js' / 'trustledger.db'}",
    )
    c = Node("440000", "广东省", "ledger.gd.gov.example/log", tmp_path / "gd", pg_schema)
    nodes = (a, b, c)
    inits = [n.init() for n in nodes]
    for n, p in zip(nodes, inits, strict=True):
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, (n.origin, out, err)
    for n in nodes:
        n.start()
    try:
        for n in nodes:
            n.wait_ready()
        yield a, b, c
    finally:
        for n in nodes:
            n.stop()


def _issue(node: Node, n: int) -> dict[str, Any]:
    fields = [f"--field={k}={v}" for k, v in FIELDS.items()]
    args = [
        "--type",
        BUSINESS,
        "--holder",
        holder_uscc(n),
        "--holder-name",
        "郑州市龘鑫科技有限公司",
        "--issuer",
        ZZ_AMR,
    ]
    licence: dict[str, Any] = node.cli("licence", "issue", *args, *fields)
    node.cli("log", "checkpoint")  # what the server's signer does within a second; here at once
    return licence


def _verify(client: TrustLedgerClient, licence: dict[str, Any]) -> FederationVerifyOut:
    return client.verify_any_region(licence["qr_url"], **USE)


def _codes(answer: FederationVerifyOut) -> list[str]:
    return [r.code for r in answer.reasons]


def test_three_regions_recognise_follow_and_catch_each_other(regions: tuple[Node, Node, Node], tmp_path: Path) -> None:
    a, b, c = regions
    # -- federate: each region adds and syncs the other two, and witnesses them -----------------------------------
    for node in regions:
        for peer in regions:
            if peer is not node:
                assert node.cli("peers", "add", peer.url)["origin"] == peer.origin
    for node in regions:
        assert node.cli("peers", "sync")["ok"] is True
    b.cli("peers", "accept", a.origin, "--types", BUSINESS, "--note", "跨省通办 营业执照")
    js, gd = b.verifier_client(), c.verifier_client()

    # -- a licence of A verifies in B and C through their APIs --------------------------------------------------------
    first = _issue(a, 1)
    in_b = _verify(js, first)
    assert in_b.verdict == "valid" and in_b.valid and not in_b.local, in_b.reasons
    assert in_b.licence is not None and in_b.licence.identifier == first["identifier"]
    assert in_b.inclusion is not None and in_b.inclusion.leaf_index == first["leaf_index"]
    assert in_b.inclusion.tree_size > first["leaf_index"] and in_b.status is not None
    assert in_b.use is not None and in_b.use.outcome == "accepted" and in_b.acceptance is not None
    by_cli = b.cli(
        "peers",
        "verify",
        first["token"],
        "--verifier",
        "江苏省审批系统",
        "--matter",
        "320100-KB-001",
        "--purpose",
        "开办企业",
        "--consent",
        "授权书 JS-2",
    )
    assert by_cli["verdict"] == "valid" and by_cli["use"]["outcome"] == "accepted"
    refused = _verify(gd, first)  # C has no acceptance rule for A yet
    assert refused.verdict == "refused" and _codes(refused) == ["type_not_accepted"]
    rule = c.cli("peers", "accept", a.origin, "--types", BUSINESS)
    assert rule["version"] == 1
    in_c = _verify(gd, first)
    assert in_c.verdict == "valid", in_c.reasons
    with a.verifier_client() as ha:  # the same door for a region's own licence: checked on its ledger
        own = _verify(ha, first)
    assert own.verdict == "valid" and own.local and own.use is not None and own.inclusion is not None, own.reasons

    # -- A's checkpoints are witnessed by B and C ---------------------------------------------------------------------
    anchored = a.cli("anchor")
    assert len(anchored["cosignatures"]) == 2, anchored
    witnessed = httpx.get(f"{a.url}/v1/anchors/{anchored['tree_size']}", timeout=10).json()
    assert len(witnessed["checkpoints"][0]["cosignatures"]) == 2

    # -- A rotates its key; B follows -------------------------------------------------------------------------------
    a.cli("keys", "rotate", ZZ_AMR)
    assert httpx.get(a.url + "/v1/trust-list", timeout=5).headers["x-trust-list-version"] == "2"
    for node in (b, c):
        assert node.cli("peers", "sync", a.origin)["ok"] is True
    second = _issue(a, 2)
    after = _verify(js, second)
    assert after.verdict == "valid" and after.trust_list is not None and after.trust_list.version == 2, after.reasons
    assert _verify(js, first).verdict == "valid"  # signed under the retired key, while it was valid

    # -- a copy of A as it is now: later it will serve a forked history -----------------------------------------------
    _snapshot(a.home, tmp_path / "ha-fork")
    third = _issue(a, 3)
    for node in (b, c):
        assert node.cli("peers", "sync", a.origin)["ok"] is True
    assert _verify(js, third).verdict == "valid"

    # -- A stops: status cannot be confirmed while B's cached trust list is fresh, then it is stale --------------------
    a.stop()
    for licence in (first, third):
        down = _verify(js, licence)
        assert down.verdict == "valid_unconfirmed" and _codes(down) == ["status_unconfirmed"], down.reasons
        assert "status cannot be confirmed" in down.reasons[0].detail and not down.valid
    assert b.cli("peers", "verify", first["token"], code=1)["verdict"] == "valid_unconfirmed"
    later = Node(b.code, b.name, b.origin, b.home, b.db_url)  # B's home and database, its clock a day later
    later.start(TRUSTLEDGER_CLOCK_OFFSET_SECONDS=str(DAY + 3600))
    try:
        later.wait_ready()
        key = later.cli("apikey", "create", "--role", "verifier", "--principal", "江苏省政务服务平台")["key"]
        with TrustLedgerClient(later.url, api_key=key, timeout=30) as client:
            stale = _verify(client, first)
    finally:
        later.stop()
    assert stale.verdict == "invalid" and _codes(stale) == ["trust_list_stale"], stale.reasons
    assert "expired at" in stale.reasons[0].detail

    # -- A comes back serving a forked log: B and C detect it on sync -------------------------------------------------
    fork = Node(a.code, a.name, a.origin, tmp_path / "ha-fork", f"sqlite:///{tmp_path / 'ha-fork' / 'trustledger.db'}")
    fork.port = a.port  # same URL, same keys, another history after the copy
    for n in range(10, 13):
        _issue(fork, n)
    fork.start()
    try:
        fork.wait_ready()
        for node in (b, c):
            synced = node.cli("peers", "sync", a.origin, code=1)
            assert synced["results"][0]["fork"] is True, synced
            alarms = httpx.get(node.url + "/v1/federation/alarms", timeout=10).json()
            assert alarms["count"] >= 1 and {x["origin"] for x in alarms["alarms"]} == {a.origin}
            assert alarms["alarms"][0]["kind"] in {"fork-inconsistent", "fork-same-size"}
        forked = _verify(js, first)
        assert forked.verdict == "invalid" and _codes(forked) == ["peer_forked"]
    finally:
        fork.stop()
    js.close()
    gd.close()
