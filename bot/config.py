"""Settings, read once from the environment and `.env` at start and passed down."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: str = ""
    # Base URL of a self-hosted Bot API server (e.g. http://127.0.0.1:8081); empty means Telegram's.
    bot_api_url: str = ""
    database_url: str = "sqlite+aiosqlite:///./data/portfolio.sqlite3"
    media_dir: Path = Path("./data/media")
    school_name: str = "МБОУ «Школа»"
    timezone: str = "Europe/Moscow"
    default_locale: str = "ru"
    digest_cron: str = "0 8 * * mon"
    admin_host: str = "127.0.0.1"
    admin_port: int = 8080
    admin_public_url: str = "http://127.0.0.1:8080"
    secret_key: str = "change-me"
    redis_url: str = ""
    # Public HTTPS base URL for Telegram to call; empty means long polling.
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_port: int = 8443
    log_level: str = "INFO"
    invite_ttl_days: int = Field(default=30, ge=1)
    retention_days: int = Field(default=30, ge=0)

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in ("ru", "en"):
            raise ValueError("DEFAULT_LOCALE must be 'ru' or 'en'")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def invite_ttl(self) -> timedelta:
        return timedelta(days=self.invite_ttl_days)
