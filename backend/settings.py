"""Typed settings, read once by the entry point and passed down (never at import time)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("data")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MUSRENBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / 'musrenbot.sqlite3'}",
        description="SQLAlchemy URL; SQLite by default, postgresql+asyncpg in production",
    )
    region: str = Field(
        default="12.71", description="Kemendagri code of the kabupaten/kota served, or ALL"
    )
    planning_year: int | None = Field(
        default=None, description="Tahun perencanaan; default: the year after the current one"
    )
    telegram_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: SecretStr | None = None
    public_url: str | None = Field(
        default=None, description="Public HTTPS base URL of this service"
    )
    media_dir: Path = DEFAULT_DATA_DIR / "media"
    categories_file: Path | None = Field(
        default=None, description="CSV overriding the category -> bidang urusan/OPD mapping"
    )
    opd_file: Path | None = Field(
        default=None, description="CSV of the deployment's perangkat daerah (code,name,urusan)"
    )
    stage_deadlines: dict[str, date] = Field(
        default_factory=dict,
        description='Deadline per stage, JSON: {"desa": "2027-01-31", "kecamatan": "2027-02-28"}',
    )
    reminder_days: list[int] = Field(
        default=[7, 1], description="Days before a stage deadline when officials are reminded"
    )
    digest_time: str = Field(default="07:00", description="Local time of the officials' digest")
    telegram_alert_groups: dict[str, int] = Field(
        default_factory=dict,
        description='Group chat per kecamatan/OPD code for queue alerts: {"12.71.01": -100123}',
    )
    timezone: str = Field(default="Asia/Jakarta", description="The region's time zone (WIB)")
    quiet_hours: str = Field(
        default="21:00-06:00", description="Local hours when notifications wait; empty: none"
    )
    delivery_per_second: float = Field(default=25.0, gt=0, description="Overall send rate")
    delivery_chat_interval: float = Field(
        default=1.0, ge=0, description="Seconds between messages to one private chat"
    )
    delivery_group_per_minute: int = Field(default=20, gt=0, description="Per group chat")
    delivery_concurrency: int = Field(
        default=4, ge=1, le=32, description="Sends in flight at once (a distant API needs some)"
    )
    delivery_lease_seconds: float = Field(
        default=60.0, gt=0, description="How long a claimed notification is reserved for one worker"
    )
    run_worker: bool = Field(default=True, description="`musrenbot run` also delivers")
    log_level: str = "INFO"

    @field_validator(
        "telegram_token",
        "telegram_webhook_secret",
        "public_url",
        "planning_year",
        "categories_file",
        "opd_file",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes unset variables as empty strings
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("stage_deadlines")
    @classmethod
    def _known_stages(cls, value: dict[str, date]) -> dict[str, date]:
        from backend.domain import Stage

        unknown = set(value) - {s.value for s in Stage}
        if unknown:
            raise ValueError(f"unknown stage(s) {', '.join(sorted(unknown))}")
        return value

    @field_validator("region")
    @classmethod
    def _region_code(cls, value: str) -> str:
        value = value.strip()
        if value.upper() == "ALL":
            return "ALL"
        parts = value.split(".")
        if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
            raise ValueError("region must be a kabupaten/kota code such as 12.71, or ALL")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
