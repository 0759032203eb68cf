"""Configuration from the environment (DESIGN §13); the only module that reads settings."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clock import Clock, OffsetClock, StartedClock, system_clock

if TYPE_CHECKING:
    from ledger.store import WriteLimits  # imported when called: commands that open no database never load SQLAlchemy

# An RFC 3339 profile of ISO 8601: date, time to the minute at least, and a UTC offset (no naive or local times).
_DATABASE_URL = re.compile(r"(postgresql|sqlite)(\+\w+)?://\S*")  # the backends `ledger.store` runs on
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


class Settings(BaseSettings):
    """TRUSTLEDGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRUSTLEDGER_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="keys, database and generated files")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///$TRUSTLEDGER_HOME/trustledger.db"
    )
    read_database_url: str = Field(
        default="", description="a streaming replica of the database for reads that may lag (ADR 0015); empty: none"
    )
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="base of the QR URLs")
    public_rate_limit: int = Field(default=60, ge=0, description="public requests per minute per address; 0 = off")
    workers: int = Field(
        default=0, ge=0, le=256, description="`serve` worker processes without --workers; 0: one per CPU"
    )
    key_passphrase: str = Field(default="", description="keystore passphrase; default: a 0600 file in home/keys")
    checkpoint_interval: float = Field(default=1.0, gt=0, description="seconds between checkpoints while growing")
    trust_list_period_hours: float = Field(default=24.0, ge=0.01, description="trust list next_update - issued_at")
    trust_list_cache_seconds: float = Field(
        default=5.0, ge=0, le=300, description="seconds `serve` reuses the current trust list (0: re-read every time)"
    )
    clock_offset_seconds: float = Field(
        default=0.0,
        description="shift this region's clock (drills and tests: what would it decide later?); never in production",
    )
    clock_at: str = Field(
        default="",
        description="start this region's clock at an ISO 8601 instant with offset, then tick (drills and tests that "
        "run a real server at a chosen date); empty: the system clock; never in production",
    )
    # Expiry reminders: scheduler/delivery loop, SMTP for e-mail, the SMS gateway (a signed webhook).
    remind_interval: float = Field(default=60.0, gt=0, description="seconds between reminder passes")
    remind_in_serve: bool = Field(default=True, description="run the reminder loop inside `serve`")
    remind_max_attempts: int = Field(default=8, ge=1, le=50, description="delivery attempts before the dead letters")
    remind_lease_seconds: float = Field(default=120.0, gt=0, description="how long a worker owns a claimed delivery")
    smtp_host: str = Field(default="", description="SMTP server for reminder e-mail; empty: e-mail waits in the outbox")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="reminders@trustledger.invalid", description="From: of reminder e-mail")
    smtp_starttls: bool = Field(default=False)
    smtp_username: str = Field(default="")
    smtp_password: str = Field(default="")
    sms_gateway_url: str = Field(default="", description="SMS gateway webhook; empty: SMS waits in the outbox")
    sms_gateway_secret: str = Field(default="", description="HMAC secret shared with the SMS gateway")

    # Contention: bounds that turn a burst of writers into prompt 503 + Retry-After answers instead of a stall.
    db_pool_size: int = Field(default=10, ge=1, le=200, description="pooled database connections per process")
    db_max_overflow: int = Field(default=10, ge=0, le=200, description="extra connections a burst may open")
    db_pool_timeout: float = Field(default=5.0, gt=0, le=600, description="seconds to wait for a free connection")
    write_lock_timeout: float = Field(default=5.0, gt=0, le=600, description="seconds a writer waits for the log")
    write_queue: int = Field(default=256, ge=1, le=100_000, description="writers that may wait per process")
    retry_after_seconds: int = Field(default=1, ge=1, le=3600, description="Retry-After of a 503 under load")
    write_batch_commands: int = Field(
        default=256, ge=1, le=10_000, description="group commit: commands per transaction at most (1: one each)"
    )
    write_batch_delay_ms: float = Field(
        default=5.0, ge=0, le=1000, description="group commit: a batch takes no more commands once open this long"
    )

    def write_limits(self) -> WriteLimits:
        """The database bounds of one process (pool, lock wait, writer queue)."""
        from ledger.store import WriteLimits

        return WriteLimits(
            pool_size=self.db_pool_size,
            max_overflow=self.db_max_overflow,
            pool_timeout=self.db_pool_timeout,
            lock_timeout=self.write_lock_timeout,
            queue=self.write_queue,
            retry_after=self.retry_after_seconds,
            batch_commands=self.write_batch_commands,
            batch_delay=self.write_batch_delay_ms / 1000,
        )

    @field_validator("read_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and not _DATABASE_URL.fullmatch(value):
            raise ValueError(
                "TRUSTLEDGER_READ_DATABASE_URL must be a SQLAlchemy URL such as postgresql+psycopg://user@host/db"
            )
        return value

    @field_validator("clock_at")
    @classmethod
    def _strict_instant(cls, value: str) -> str:
        if value:
            _parse_instant(value)
        return value

    def clock_start(self) -> datetime | None:
        """The instant TRUSTLEDGER_CLOCK_AT starts the region's clock at, or None for the system clock."""
        return _parse_instant(self.clock_at) if self.clock_at else None

    def clock(self) -> Clock:
        """The clock of a region opened from these settings: the system clock, or one started at TRUSTLEDGER_CLOCK_AT,
        shifted by TRUSTLEDGER_CLOCK_OFFSET_SECONDS (drills, and tests that run a real server at a chosen date).

        Here rather than in the region modules so that a command that opens no region (`verify --offline`) reads the
        time without importing the storage stack; `region_core.region_clock` answers with this."""
        start = self.clock_start()
        clock: Clock = system_clock if start is None else StartedClock(start)
        if self.clock_offset_seconds:  # a drill of what this region decides later
            clock = OffsetClock(clock, timedelta(seconds=self.clock_offset_seconds))
        return clock

    def region_config_file(self) -> Path:
        """Where `trustledger init` writes the region's configuration (`region_core.load_config` reads it)."""
        return self.home / "region.json"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under home."""
        if self.database_url:
            return self.database_url
        return sqlite_url(self.home / "trustledger.db")


def sqlite_url(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite file at `path`, whatever characters its directories have.

    A URL's `?` starts the query and `#` the fragment, and SQLAlchemy percent-decodes the database part: a home such as
    `/srv/a?b` or `/srv/50%20off` pasted into `sqlite:///…` names another file. Every character but `/` is
    percent-encoded, as `sqlalchemy.engine.URL.create("sqlite", database=…)` does (SQL stays in the store modules).
    """
    return "sqlite:///" + quote(str(path.resolve()), safe="/")


def _parse_instant(text: str) -> datetime:
    """A timezone-aware instant such as `2026-01-01T08:00:00+08:00` or `2026-01-01T00:00:00Z`; ValueError otherwise."""
    moment = None
    if _INSTANT.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            moment = None
    if moment is None or moment.utcoffset() is None:
        raise ValueError(
            f"TRUSTLEDGER_CLOCK_AT must be an ISO 8601 instant with a UTC offset, such as 2026-01-01T08:00:00+08:00, "
            f"not {text!r}"
        )
    return moment
