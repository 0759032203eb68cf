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

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to the SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'trustledger.db').resolve()}"
