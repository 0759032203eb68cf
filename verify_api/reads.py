"""The log reads the API may serve from the read replica (ADR 0015), and their Prometheus view.

Each read names the tree size it needs, so `ReplicaReads` can send it to the replica once the replica holds that
size: a tile or an entry bundle (its index and width), a leaf, an inclusion or consistency proof at its stated tree
size, a status proof at a stated checkpoint size. A status proof about now (no size) is a verdict: it rests on the
replica only when the replica's newest checkpoint is the primary's.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ledger.edge import TILE_HEIGHT, TILE_WIDTH
from ledger.ids import LeafIndex
from ledger.store_replica import ReplicaReads
from signatures.statusproof import StatusProof


def hash_tile(reads: ReplicaReads, level: int, index: int, width: int | None) -> bytes:
    """C2SP tlog-tiles hash tile `level/index[.p/width]`: its last entry is complete once the tree holds
    `(index * 256 + width) * 256^level` leaves."""
    needed = (index * TILE_WIDTH + (width or TILE_WIDTH)) << (TILE_HEIGHT * level)
    return reads.at_size("tile", needed, lambda log: log.tile(level, index, width))


def entry_bundle(reads: ReplicaReads, index: int, width: int | None) -> bytes:
    """C2SP tlog-tiles entry bundle `index[.p/width]`: its leaves are the first `index * 256 + width`."""
    needed = index * TILE_WIDTH + (width or TILE_WIDTH)
    return reads.at_size("entry-bundle", needed, lambda log: log.entry_bundle(index, width))


def leaf(reads: ReplicaReads, index: LeafIndex) -> tuple[bytes, bytes]:
    """(leaf data, stored leaf hash) of leaf `index`."""
    return reads.at_size("leaf", index + 1, lambda log: log.leaf(index))


def inclusion_proof(reads: ReplicaReads, index: LeafIndex, tree_size: int) -> tuple[int, list[bytes]]:
    """RFC 9162 §2.1.3 inclusion proof at the stated `tree_size`."""
    return reads.at_size("inclusion-proof", tree_size, lambda log: log.inclusion_proof(index, tree_size))


def consistency_proof(reads: ReplicaReads, first: int, second: int) -> list[bytes]:
    """RFC 9162 §2.1.4 consistency proof between the stated sizes."""
    return reads.at_size("consistency-proof", second, lambda log: log.consistency_proof(first, second))


def status_proof(reads: ReplicaReads, identifier: str, size: int | None) -> StatusProof:
    """The status map proof (DESIGN §4b) at the checkpoint of the stated `size`, or, without one, against the newest
    checkpoint: a verdict about now, which the replica serves only with the primary's newest checkpoint."""
    if size is not None:
        return reads.at_size(
            "status-proof-at-size", size, lambda log: log.status_proof(identifier, size), checkpoint=True
        )
    return reads.now("status-proof-now", lambda log, at: log.status_proof(identifier, at))


class ReadsCollector(Collector):
    """Where the log's reads ran and how far the replica is behind, read when scraped."""

    def __init__(self, reads: ReplicaReads) -> None:
        self._reads = reads

    def collect(self) -> Iterator[Metric]:
        served = CounterMetricFamily(
            "trustledger_log_reads", "Log reads by kind and where they ran (primary or replica)", labels=["kind", "on"]
        )
        for (kind, on), count in sorted(self._reads.served().items()):
            served.add_metric([kind, on.value], float(count))
        yield served
        refused = CounterMetricFamily(
            "trustledger_replica_refusals",
            "Reads the replica did not serve because it was behind or did not answer (the primary served them)",
            labels=["kind", "reason"],
        )
        for (kind, reason), count in sorted(self._reads.refused().items()):
            refused.add_metric([kind, reason.value], float(count))
        yield refused
        yield from self._lag()

    def _lag(self) -> Iterator[Metric]:
        configured = self._reads.configured
        yield _gauge("trustledger_replica_configured", "1 when a read replica is configured", float(configured))
        if not configured:
            return
        lag = self._reads.lag()
        yield _gauge("trustledger_replica_up", "1 when the read replica answered this scrape", float(lag.reachable))
        if lag.replica is None:
            return
        yield _gauge("trustledger_replica_leaves_behind", "Leaves the replica lacks", float(lag.leaves_behind or 0))
        yield _gauge(
            "trustledger_replica_checkpoints_behind",
            "Signed checkpoints the replica lacks (verdicts about now go to the primary while this is above 0)",
            float(lag.checkpoints_behind or 0),
        )
        if lag.replay_paused is not None:
            yield _gauge("trustledger_replica_replay_paused", "1 while WAL replay is paused", float(lag.replay_paused))
        if lag.lag_bytes is not None:
            yield _gauge("trustledger_replica_lag_bytes", "WAL bytes not yet replayed", float(lag.lag_bytes))


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation)
    gauge.add_metric([], value)
    return gauge
