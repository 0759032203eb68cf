"""The region's read replica (ADR 0015), opened from `TRUSTLEDGER_READ_DATABASE_URL`: a second engine that serves the
log's reads which may lag, routed by `ledger.store_replica.ReplicaReads`."""

from __future__ import annotations

from ledger.log import Log
from ledger.store import LedgerStore, make_engine
from ledger.store_replica import ReplicaReads
from trustledger.settings import Settings


def replica_reads(settings: Settings, primary: Log) -> ReplicaReads:
    """The reads of `primary`'s log, with the replica at `settings.read_database_url` when one is configured.

    The replica's pool has the primary's bounds: a reader waits no longer for a replica connection than for a
    primary one, and one that cannot have it is served by the primary instead.
    """
    url = settings.read_database_url
    if not url:
        return ReplicaReads(primary, None)
    limits = settings.write_limits()
    replica = LedgerStore(make_engine(url, limits=limits), limits)
    return ReplicaReads(primary, Log(replica, primary.origin))
