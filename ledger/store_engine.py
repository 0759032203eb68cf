"""The database engine of a ledger and the bounds on waiting for it (pool, writer queue, lock wait).

SQLite gets WAL, a busy timeout and explicit transaction control (writers say `BEGIN IMMEDIATE`); PostgreSQL a
bounded pool. `as_busy` names the driver and pool errors that mean "contention: retry later".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import NullPool

from ledger.errors import BusyError, StorageError


@dataclass(frozen=True)
class WriteLimits:
    """How long and how many: the bounds that turn contention into a prompt "retry later" instead of a stall.

    `pool_size`/`max_overflow`: connections per process; `pool_timeout`: seconds to wait for one; `lock_timeout`:
    seconds a writer waits for the log's lock (in process and in the database); `queue`: writers that may wait in
    this process before new ones are refused at once; `retry_after`: the seconds a refused client is told to wait.
    `batch_commands`/`batch_delay`: group commit (ADR 0014): at most this many commands share one transaction, and a
    batch takes on no more commands once it has been open this many seconds (1 command = a commit per command).
    """

    pool_size: int = 10
    max_overflow: int = 10
    pool_timeout: float = 5.0
    lock_timeout: float = 5.0
    queue: int = 256
    retry_after: int = 1
    batch_commands: int = 256
    batch_delay: float = 0.005

    def __post_init__(self) -> None:
        if self.pool_size < 1 or self.max_overflow < 0 or self.queue < 1 or self.retry_after < 1:
            raise StorageError("pool_size and queue must be >= 1, max_overflow >= 0, retry_after >= 1")
        if not (1 <= self.batch_commands <= 10_000 and 0 <= self.batch_delay <= 1):
            raise StorageError("batch_commands must be in [1, 10000] and batch_delay in [0, 1] seconds")
        if not (0 < self.pool_timeout <= 600 and 0 < self.lock_timeout <= 600):
            raise StorageError("pool_timeout and lock_timeout must be in (0, 600] seconds")


def make_engine(url: str, *, limits: WriteLimits | None = None) -> Engine:
    """An engine for the ledger database; SQLite gets WAL, a busy timeout and explicit transaction control."""
    limits = limits or WriteLimits()
    if url.startswith("sqlite"):
        memory = ":memory:" in url
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": limits.lock_timeout},
            poolclass=NullPool if memory else None,
            **({} if memory else _pool_args(limits)),
        )
        _sqlite_transactions(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **_pool_args(limits))


def _pool_args(limits: WriteLimits) -> dict[str, Any]:
    return {"pool_size": limits.pool_size, "max_overflow": limits.max_overflow, "pool_timeout": limits.pool_timeout}


def as_busy(exc: BaseException, retry_after: int = 1) -> BusyError | None:
    """The `BusyError` a database error means, or None: no pooled connection in time, or the lock wait ran out.

    SQLite says "database is locked" when its busy timeout ends; PostgreSQL raises SQLSTATE 55P03
    (lock_not_available) when `lock_timeout` ends; the pool raises its own TimeoutError.
    """
    if isinstance(exc, BusyError):
        return exc
    if isinstance(exc, sa_exc.TimeoutError):
        return BusyError("no database connection was free in time", retry_after)
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    if getattr(orig, "sqlstate", None) == "55P03" or "database is locked" in str(orig):
        return BusyError("the log's writer lock was not free in time", retry_after)
    return None


def _sqlite_transactions(engine: Engine) -> None:
    """Let us say `BEGIN IMMEDIATE` for writers (pysqlite's own transaction handling would defer the lock)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.info.pop("begin_mode", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())
