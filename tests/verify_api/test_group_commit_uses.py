"""Licence commands in one group-committed batch (ADR 0014), on SQLite and PostgreSQL: a retried use in the same
batch returns the first result, a failing command fails alone while the rest commits, a revocation and the uses
around it keep their order, and one checkpoint signed for the batch proves every use and the new status."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from demo.synthetic import SyntheticHolders
from licences.errors import LicenceError, LicenceNotFoundError
from licences.values import LicenceId
from licences.views import UseResult
from tests.conftest import FakeClock
from tests.support import deadline
from tests.verify_api.conftest import DRIVING, driving_fields, make_region
from trustledger.region import Region
from verification import prove_current


def _use(region: Region, licence_id: LicenceId, idempotency_key: str | None = None) -> UseResult:
    return region.licences.use(
        licence_id,
        verifier="审批系统",
        matter_code="410100-XK-001",
        purpose="批量核验",
        consent="当面出示",
        idempotency_key=idempotency_key,
    )


def _in_one_batch(region: Region, commands: list[Callable[[], Any]]) -> list[Any]:
    """Queue `commands` (in this order) behind a unit of work that holds the writer, then let them run: they share
    its batch. Returns each command's result or exception."""
    store = region.store
    holding, release = threading.Event(), threading.Event()
    outcomes: list[Any] = [None] * len(commands)

    def hold() -> None:
        with store.write():
            holding.set()
            release.wait(30)

    def run(i: int) -> None:
        try:
            outcomes[i] = commands[i]()
        except Exception as exc:  # the test inspects it
            outcomes[i] = exc

    holder = threading.Thread(target=hold, daemon=True)
    holder.start()
    assert holding.wait(30)
    threads = []
    for i in range(len(commands)):  # one at a time, so the queue (first come, first served) is in command order
        t = threading.Thread(target=run, args=(i,), daemon=True)
        t.start()
        threads.append(t)
        budget = deadline(30)
        while store.waiting_writers < i + 1:
            assert budget, "a command did not queue for the writer"
            threading.Event().wait(0.002)
    release.set()
    for t in [holder, *threads]:
        t.join(30)
    return outcomes


def _issue(region: Region, n: int) -> list[LicenceId]:
    holders = SyntheticHolders(seed=5151)
    police = region.catalogue.department("zz-traffic-police").uscc
    ids = []
    for _ in range(n):
        p = holders.citizen()
        view = region.licences.issue(
            type_code=DRIVING,
            issuer=police,
            holder_id=p.id_number,
            holder_name=p.name,
            fields=driving_fields(p.id_number),
        )
        ids.append(view.id)
    return ids


def test_a_batch_of_uses_retries_failures_and_a_revocation(region_on_each_db: Region) -> None:
    region = region_on_each_db
    a, b = _issue(region, 2)
    licences = region.licences
    missing = LicenceId(uuid.UUID(int=a.int ^ 1))
    commits: list[int] = []
    event.listen(region.store.engine, "commit", lambda _c: commits.append(1))
    with region.store.read() as conn:
        checkpoints_before = len(list(region.store.checkpoint_pages(conn)))
        size_before = region.store.size(conn)

    outcomes = _in_one_batch(
        region,
        [
            lambda: _use(region, a, "retry-me"),
            lambda: _use(region, a, "retry-me"),  # the client's retry, in the same batch
            lambda: _use(region, missing),
            lambda: _use(region, b),
            lambda: licences.revoke(b, actor="zz-traffic-police", reason="依法吊销", kind="penalty"),
            lambda: licences.revoke(b, actor="zz-traffic-police", reason="再次吊销", kind="penalty"),
            lambda: _use(region, b),
        ],
    )
    first, retried, not_found, before, revoked, again, after = outcomes
    assert isinstance(first, UseResult) and isinstance(retried, UseResult)
    assert (retried.invocation_id, retried.leaf_index) == (first.invocation_id, first.leaf_index)
    assert isinstance(not_found, LicenceNotFoundError)  # fails alone
    assert isinstance(again, LicenceError) and not isinstance(again, LicenceNotFoundError)  # revoked already: alone
    assert isinstance(before, UseResult) and before.outcome == "accepted"
    assert isinstance(after, UseResult) and (after.outcome, after.refusal_reason) == ("refused", "licence_revoked")
    assert revoked.status.value == "revoked"
    assert first.leaf_index < before.leaf_index < after.leaf_index  # in queue order, dense
    assert after.leaf_index == size_before + 3  # three uses and one revocation: nothing of the failures is stored

    with region.store.read() as conn:
        checkpoints = list(region.store.checkpoint_pages(conn))
        size = region.store.size(conn)
    assert len(checkpoints) == checkpoints_before + 1  # one for the whole batch
    assert checkpoints[-1].tree_size == size == size_before + 4  # it covers every leaf of the batch
    assert sum(commits) >= 1
    proven = prove_current(licences.get(b), region.ledger_sources())  # the revocation is provable at once
    assert proven.value is not None and proven.value.status == "revoked"


@pytest.mark.parametrize("batch", [1, 256])
def test_every_use_is_covered_by_the_checkpoint_of_its_batch(
    db_url: str, tmp_path: Path, api_clock: FakeClock, batch: int
) -> None:
    """With batches (256) and without (1: a commit per command), each use's own checkpoint covers its leaf."""
    region = make_region(tmp_path / "home", db_url, api_clock, write_batch_commands=batch)
    try:
        (a,) = _issue(region, 1)
        with region.store.read() as conn:
            checkpoints_before = len(list(region.store.checkpoint_pages(conn)))
        outcomes = _in_one_batch(region, [lambda: _use(region, a)] * 6)
        with region.store.read() as conn:
            checkpoints = list(region.store.checkpoint_pages(conn))
        assert len(checkpoints) - checkpoints_before == (1 if batch > 1 else 7 - 1)  # the holder wrote nothing
        for o in outcomes:
            assert isinstance(o, UseResult)
            assert any(c.tree_size == o.leaf_index + 1 for c in checkpoints) or batch > 1
            assert o.leaf_index < checkpoints[-1].tree_size
    finally:
        region.close()
