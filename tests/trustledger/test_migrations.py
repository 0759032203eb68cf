"""One schema truth: on an empty database every Alembic revision together builds exactly the tables the stores declare
in SQLAlchemy Core (columns with type and nullability, server defaults, primary keys, unique constraints, indexes), on
SQLite and on PostgreSQL; the whole history downgrades to base and upgrades again; no store's MetaData is left out."""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Column, Engine, MetaData, String, inspect

import trustledger.migrations
from ledger.store import make_engine
from trustledger.migrations import upgrade
from trustledger.migrations.schema import STORE_METADATA, declared_metadata

ROOT = Path(__file__).parents[2]
PACKAGES = ["clock", "ledger", "licences", "reminders", "seals", "signatures", "verification", "verify_api", "anchors"]
PACKAGES += ["trustledger", "demo", "trustlists"]


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = make_engine(db_url)
    yield e
    e.dispose()


def _drift(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return list(compare_metadata(context, declared_metadata()))


def _downgrade_to_base(engine: Engine) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(trustledger.migrations.__file__).parent))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_the_migrations_build_exactly_the_declared_schema(engine: Engine) -> None:
    upgrade(engine)
    assert _drift(engine) == []
    assert _tables(engine) == set(declared_metadata().tables)


def test_downgrade_to_base_then_upgrade_again(engine: Engine) -> None:
    upgrade(engine)
    _downgrade_to_base(engine)
    assert _tables(engine) == set()
    upgrade(engine)
    assert _drift(engine) == []


def test_the_check_sees_drift(engine: Engine) -> None:
    """Rejecting: a column the migrations never added is reported."""
    upgrade(engine)
    extra = declared_metadata()
    extra.tables["trust_lists"].append_column(Column("unmigrated", String(8), nullable=True))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    assert [d[0] for d in diff] == ["add_column"]


def _module_metadata_names(path: Path) -> list[str]:
    """Names bound at module level to `MetaData()` in one source file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        target.id
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and isinstance(node.value.func, ast.Name)
        and node.value.func.id == "MetaData"
        for target in node.targets
        if isinstance(target, ast.Name)
    ]


def test_every_store_metadata_is_collected() -> None:
    found: list[MetaData] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            names = _module_metadata_names(path)
            if names:
                module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
                found += [getattr(module, name) for name in names]
    assert found, "the scan found no MetaData at all"
    assert {id(m) for m in found} == {id(m) for m in STORE_METADATA}
