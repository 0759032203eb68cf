"""Alembic migrations of the whole region database, run by `trustledger init` and on start."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine


def upgrade(engine: Engine) -> None:
    """Bring the database schema to the newest revision of every branch (idempotent).

    Each package owns a branch rooted at the ledger's 0001 (`licences`, `outbox`, `anchors`, `api`), so
    capabilities add tables without ordering against each other.
    """
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
