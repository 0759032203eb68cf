"""Configuration from the environment (DESIGN §13); the only module that reads settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """TRUSTLEDGER_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="TRUSTLEDGER_", extra="ignore")

    home: Path = Field(default=Path("./var"), description="keys, database and generated files")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; default sqlite:///$TRUSTLEDGER_HOME/trustledger.db"
    )
    public_base_url: str = Field(default="http://127.0.0.1:8000", description="base of the QR URLs")
    public_rate_limit: int = Field(default=60, ge=0, description="public requests per minute per address; 0 = off")
    key_passphrase: str = Field(default="", description="keystore passphrase; default: a 0600 file in home/keys")
    checkpoint_interval: float = Field(default=1.0, gt=0, description="seconds between checkpoints while growing")
    trust_list_period_hours: float = Field(default=24.0, ge=0.01, description="trust list next_update - issued_at")
    clock_offset_seconds: float = Field(
        default=0.0,
        description="shift this region's clock (drills and tests: what would it decide later?); never in production",
    )
    # Expiry reminders (issue 8): scheduler/delivery loop, SMTP for e-mail, the SMS gateway (a signed webhook).
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

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'trustledger.db').resolve()}"
