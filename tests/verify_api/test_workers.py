"""The app runs the region's checkpoint signer (and the loops `serve` hands it) with its lifespan, and shows their
runs and failures on /metrics."""

from __future__ import annotations

import re
import threading

from fastapi.testclient import TestClient

from tests.verify_api.conftest import Keys
from trustledger.periodic import PeriodicWorker
from trustledger.region import Region
from verify_api.app import create_app


def _threads(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name)


def test_the_lifespan_runs_the_workers_and_metrics_count_them(region: Region, keys: Keys) -> None:
    extra = PeriodicWorker("test-extra", lambda: None, 3600.0, region.clock, run_at_start=False)
    signers, extras = _threads("checkpoint-signer"), _threads("test-extra")
    with TestClient(create_app(region, workers=lambda r: [extra])) as http:
        assert (_threads("checkpoint-signer"), _threads("test-extra")) == (signers + 1, extras + 1)
        text = http.get("/metrics", headers={"Authorization": f"Bearer {keys.operator}"}).text
    assert re.search(r'^trustledger_worker_runs_total\{pid="\d+",worker="checkpoint-signer"\} \d+\.0$', text, re.M)
    assert re.search(r'^trustledger_worker_failures_total\{pid="\d+",worker="test-extra"\} 0\.0$', text, re.M)
    assert (_threads("checkpoint-signer"), _threads("test-extra")) == (signers, extras)  # stopped with the lifespan
    assert not extra.running
