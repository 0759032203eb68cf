"""eventsourcing's own ApplicationRecorder contract test cases, run against our recorder on SQLite and PostgreSQL.

(`AggregateRecorderTestCase` is not run: it asserts that an aggregate-only recorder returns no notification ids,
while an ApplicationRecorder must return them; `ApplicationRecorderTestCase` covers insert/select as well.)
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from eventsourcing.tests.persistence import ApplicationRecorderTestCase
from sqlalchemy import create_engine, text

from ledger.persistence import LedgerRecorder
from ledger.store import LedgerStore, WriteLimits, make_engine
from tests.conftest import PG_ADMIN_URL, _pg_schema_url


class _SQLiteMixin:
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._stores: list[LedgerStore] = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for s in self._stores:
            s.close()
        self._tmp.cleanup()
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> LedgerRecorder:
        store = LedgerStore(make_engine(f"sqlite:///{Path(self._tmp.name) / f'{uuid.uuid4().hex}.db'}"))
        store.create_tables()
        self._stores.append(store)
        return LedgerRecorder(store)


class _PostgresMixin:
    def setUp(self) -> None:
        self._schema = f"c_{uuid.uuid4().hex[:12]}"
        self._admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with self._admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {self._schema}"))
        self._stores: list[LedgerStore] = []
        super().setUp()  # type: ignore[misc]

    def tearDown(self) -> None:
        for s in self._stores:
            s.close()
        with self._admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {self._schema} CASCADE"))
        self._admin.dispose()
        super().tearDown()  # type: ignore[misc]

    def create_recorder(self) -> LedgerRecorder:
        store = LedgerStore(make_engine(_pg_schema_url(self._schema), limits=WriteLimits(pool_size=12)))
        if not self._stores:
            store.create_tables()
        self._stores.append(store)
        return LedgerRecorder(store)


class TestSQLiteApplicationContract(_SQLiteMixin, ApplicationRecorderTestCase[LedgerRecorder]):
    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()


class TestPostgresApplicationContract(_PostgresMixin, ApplicationRecorderTestCase[LedgerRecorder]):
    def test_insert_subscribe(self) -> None:
        self.optional_test_insert_subscribe()
