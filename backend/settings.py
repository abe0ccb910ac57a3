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
    whatsapp_token: SecretStr | None = Field(
        default=None, description="Cloud API access token; set it to serve WhatsApp"
    )
    whatsapp_phone_number_id: str | None = Field(
        default=None, description="The business phone number's id in the Cloud API"
    )
    whatsapp_app_secret: SecretStr | None = Field(
        default=None, description="Meta app secret: webhooks are signed with it"
    )
    whatsapp_verify_token: SecretStr | None = Field(
        default=None, description="Answered back in the webhook subscription handshake"
    )
    whatsapp_api_url: str = Field(
        default="https://graph.facebook.com", description="Graph API base URL"
    )
    whatsapp_api_version: str = Field(default="v23.0", description="Graph API version")
    media_dir: Path = DEFAULT_DATA_DIR / "media"
    transcribe_model: str = Field(
        default="base",
        description="Speech model for voice notes: a faster-whisper model name (base: the "
        "pinned, hash-checked multilingual base), a local model directory, or off",
    )
    transcribe_workers: int = Field(
        default=1, ge=1, le=8, description="Voice notes transcribed at once in this process"
    )
    transcribe_threads: int = Field(
        default=2, ge=1, le=32, description="CPU threads of one transcription"
    )
    transcribe_queue: int = Field(
        default=4, ge=0, le=100, description="Voice notes that may wait; more are refused as busy"
    )
    model_dir: Path = Field(
        default=DEFAULT_DATA_DIR / "models", description="Where the speech model is assembled"
    )
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
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='Reverse proxies whose X-Forwarded-For/-Proto are believed: ["127.0.0.1"]',
    )
    token_days: int = Field(
        default=90, ge=1, le=3650, description="Lifetime of API tokens and Open311 keys"
    )
    login_hash_concurrency: int = Field(
        # One argon2 hash already runs its 4 lanes on 4 threads; a second at once mostly
        # competes with the residents' replies for the same cores (BENCHMARKS.md).
        default=1, ge=1, le=16, description="Password hashes computed at once in this process"
    )
    login_failure_delay: float = Field(
        default=1.0, ge=0, le=10, description="Seconds before a failed or refused login is answered"
    )
    login_failures_per_username: int = Field(
        default=10, ge=1, description="Failed logins of one username before it is locked"
    )
    login_failures_per_address: int = Field(
        default=30, ge=1, description="Failed logins from one client address per window"
    )
    login_failure_window_minutes: int = Field(
        default=15, ge=1, description="Window in which failed logins are counted"
    )
    login_lockout_minutes: int = Field(
        default=15, ge=1, description="How long a locked account refuses every login"
    )
    lookup_misses_per_client: int = Field(
        default=20, ge=1, description="Unknown tracking codes one client may ask for per window"
    )
    lookup_miss_window_minutes: int = Field(
        default=10, ge=1, description="Window in which unknown tracking codes are counted"
    )
    lookups_per_minute: int = Field(
        default=120, ge=1, description="Tracking-code lookups of one client per minute"
    )
    log_level: str = "INFO"

    @field_validator(
        "telegram_token",
        "telegram_webhook_secret",
        "whatsapp_token",
        "whatsapp_phone_number_id",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
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
