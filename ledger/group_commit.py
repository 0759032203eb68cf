"""Group commit: concurrent units of work share one writer transaction and one durable commit (ADR 0014).

Writers take turns, as before, but a turn no longer ends in a commit of its own. The first writer opens the batch
(one connection, one transaction holding the log's lock: SQLite `BEGIN IMMEDIATE`, the PostgreSQL advisory lock) and
runs its command inside a SAVEPOINT. When it is done and another writer is already waiting, it hands the open batch
to that writer and waits; the last writer of a batch (nobody waiting, `batch_commands` reached, or the batch older
than `batch_delay`) runs the commit hooks (one checkpoint for the whole batch) and commits once for all of them. Every
writer returns only after that commit, so what a caller is told has happened is durable.

A command that fails is rolled back to its savepoint and fails alone; the commands before and after it in the batch
commit. If the batch itself cannot commit, every command in it fails: none of them was acknowledged.

Nothing waits to fill a batch: while one batch commits, the writers that arrive queue behind it and form the next
one, so a lone writer pays exactly what it paid before and a crowd shares the cost of its commits.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from clock import Clock
from ledger.errors import BusyError, StorageError

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from ledger.store_engine import WriteLimits


@dataclass
class Batch:
    """One open writer transaction shared by the commands that run in it, and what its commit decides."""

    conn: Connection
    opened_at: float
    stack: ExitStack
    commands: int = 0
    checkpoint: bool = False  # a command asked for a checkpoint covering the batch (signed once, before the commit)
    broken: BaseException | None = None  # the transaction is unusable: the whole batch must roll back
    error: BaseException | None = None  # why the commit failed (every command of the batch fails with it)
    done: threading.Event = field(default_factory=threading.Event)

    def wait(self) -> None:
        """Block until the batch is committed (or failed); raise if it failed."""
        self.done.wait()
        if self.error is not None:
            raise StorageError(f"the batch this command ran in was not committed: {self.error}") from self.error


class GroupCommit:
    """Turn-taking writers of one log in one process, grouped into batches that commit once (see the module doc).

    `open_batch` opens the writer transaction (its context manager commits on a clean exit, rolls back on an error);
    `before_commit(batch)` runs once per batch, in the committing thread, with the batch's connection;
    `after_failure()` runs when a batch was rolled back (caches filled from its writes must go).
    """

    def __init__(
        self,
        limits: WriteLimits,
        clock: Clock,
        open_batch: Callable[[], AbstractContextManager[Connection]],
        before_commit: Callable[[Batch], None],
        after_failure: Callable[[], None],
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._open_batch = open_batch
        self._before_commit = before_commit
        self._after_failure = after_failure
        self._lock = threading.Lock()
        self._running = False  # a writer holds the turn (runs its command, or commits)
        self._queue: deque[threading.Event] = deque()  # writers waiting for the turn, first come first served
        self._batch: Batch | None = None

    @property
    def waiting(self) -> int:
        """Writers of this process queued for their turn right now (for metrics and tests)."""
        with self._lock:
            return len(self._queue)

    @contextmanager
    def turn(self) -> Iterator[Batch]:
        """Run one command in the open batch (opening one if needed), then hand the batch on or commit it.

        Yields the batch; the caller runs its command in a savepoint of `batch.conn`. Returns (or re-raises the
        command's own error) only once the batch is committed.
        """
        self._take_turn()
        try:
            batch = self._batch if self._batch is not None else self._open()
        except BaseException:
            self._give_turn()
            raise
        failed = True
        try:
            yield batch
            failed = False
        finally:
            batch.commands += 1
            self._end_turn(batch)
        if not failed:
            batch.wait()

    # -- turns ----------------------------------------------------------------------------------------------------

    def _take_turn(self) -> None:
        """Take the turn, or queue for it: the turn passes in arrival order (a newcomer never overtakes a waiter,
        which keeps the slowest answers close to the typical one)."""
        limits = self._limits
        with self._lock:
            if not self._running:
                self._running = True
                return
            if len(self._queue) >= limits.queue:
                raise BusyError(f"{len(self._queue)} writers are already waiting", limits.retry_after)
            granted = threading.Event()
            self._queue.append(granted)
        if granted.wait(limits.lock_timeout):
            return
        with self._lock:
            if granted.is_set():  # handed over just as the wait ran out: the turn is ours
                return
            self._queue.remove(granted)
        raise BusyError(f"waited {limits.lock_timeout:g} s for the log's writer", limits.retry_after)

    def _give_turn(self) -> None:
        """Pass the turn to the first waiting writer (it stays taken), or free it."""
        with self._lock:
            if self._queue:
                self._queue.popleft().set()
            else:
                self._running = False

    def _open(self) -> Batch:
        stack = ExitStack()
        conn = stack.enter_context(self._open_batch())
        self._batch = Batch(conn=conn, opened_at=self._clock.monotonic(), stack=stack)
        return self._batch

    def _end_turn(self, batch: Batch) -> None:
        """Hand the open batch to a waiting writer, or commit it (and wake whoever waits for the next one)."""
        limits = self._limits
        with self._lock:
            hand_on = (
                batch.broken is None
                and bool(self._queue)
                and batch.commands < limits.batch_commands
                and self._clock.monotonic() - batch.opened_at < limits.batch_delay
            )
            if hand_on:  # the next writer runs its command in this batch; the last one of the batch commits it
                self._queue.popleft().set()
                return
        try:
            self._finish(batch)
        finally:
            self._batch = None  # still ours: the turn is held until `_give_turn`
            self._give_turn()
            batch.done.set()

    def _finish(self, batch: Batch) -> None:
        """Commit the batch (after its hooks), or roll it all back if a command left it unusable."""
        try:
            if batch.broken is not None:
                raise batch.broken
            self._before_commit(batch)
        except BaseException as exc:
            batch.error = exc
            # The batch already failed with `exc`; a rollback that fails too adds nothing to report.
            with suppress(BaseException):
                batch.stack.__exit__(type(exc), exc, exc.__traceback__)
            self._after_failure()
            return
        try:
            batch.stack.close()
        except BaseException as exc:
            batch.error = exc
            self._after_failure()
