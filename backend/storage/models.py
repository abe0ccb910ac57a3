"""SQLAlchemy 2 models. Portable types only: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.storage.types import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


# Named constraints keep Alembic migrations identical on both databases.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JsonType = JSON().with_variant(JSONB(), "postgresql")
Timestamp = UtcDateTime()  # aware UTC on both databases (backend.storage.types)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Wilayah(Base):
    """One administrative unit of the Kemendagri code set loaded for this deployment."""

    __tablename__ = "wilayah"

    code: Mapped[str] = mapped_column(String(13), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    level: Mapped[int] = mapped_column(SmallInteger, index=True)
    parent_code: Mapped[str | None] = mapped_column(String(13), index=True)


class User(Base):
    """A person who talks to the bot on one channel."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8), default="id")
    display_name: Mapped[str | None] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(32))
    consent_at: Mapped[datetime | None] = mapped_column(Timestamp)
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    notifications_muted: Mapped[bool] = mapped_column(Boolean, default=False)
    reachability_changed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Conversation(Base):
    """Where a user is in a conversation, and the draft so far; survives restarts."""

    __tablename__ = "conversations"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(48))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class Usulan(Base):
    """A development proposal and its current status (kept in step with its events)."""

    __tablename__ = "usulan"
    __table_args__ = (
        # The Musrenbang queues (docs/architecture.md): one index per kind of scope, in queue
        # order, so the first page of a queue is an index range scan whatever the table's size.
        Index(
            "ix_usulan_queue_kecamatan",
            "stage", "decision", "kecamatan_code", "queue_rank", text("support_count DESC"),
            "created_at", "id",
        ),
        Index(
            "ix_usulan_queue_opd",
            "stage", "decision", "opd", "queue_rank", text("support_count DESC"), "created_at",
            "id",
        ),
        Index(
            "ix_usulan_queue_region",
            "stage", "decision", "queue_rank", text("support_count DESC"), "created_at", "id",
        ),
        Index("ix_usulan_desa_stage", "desa_code", "stage", "decision"),
        Index("ix_usulan_submitter", "submitter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    planning_year: Mapped[int] = mapped_column(SmallInteger)
    origin: Mapped[str] = mapped_column(String(16))
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitter_name: Mapped[str | None] = mapped_column(String(120))
    submitter_phone: Mapped[str | None] = mapped_column(String(32))
    desa_code: Mapped[str] = mapped_column(String(13))
    kecamatan_code: Mapped[str] = mapped_column(String(8))
    dusun: Mapped[str | None] = mapped_column(String(120))
    rt: Mapped[str | None] = mapped_column(String(8))
    rw: Mapped[str | None] = mapped_column(String(8))
    street: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    longitude: Mapped[float | None] = mapped_column(Numeric(9, 6, asdecimal=False))
    category: Mapped[str] = mapped_column(String(32))
    urusan_code: Mapped[str | None] = mapped_column(String(8))
    opd: Mapped[str | None] = mapped_column(String(160))
    permasalahan: Mapped[str] = mapped_column(Text)
    usulan: Mapped[str] = mapped_column(Text)
    volume: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    unit: Mapped[str | None] = mapped_column(String(32))
    beneficiaries: Mapped[int | None] = mapped_column(Integer)
    beneficiaries_unit: Mapped[str | None] = mapped_column(String(8))  # KK, orang, rumah
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    village_rank: Mapped[int | None] = mapped_column(Integer)
    # village_rank with "no rank" as a large number: a portable NULLS LAST the index can serve.
    queue_rank: Mapped[int] = mapped_column(Integer, default=1_000_000)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("usulan.id"))
    rembuk_id: Mapped[int | None] = mapped_column(ForeignKey("rembuk.id"))
    stage: Mapped[str] = mapped_column(String(24))
    decision: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    photos: Mapped[list[UsulanPhoto]] = relationship(
        lazy="raise", order_by="UsulanPhoto.position", cascade="all, delete-orphan"
    )
    voice: Mapped[list[UsulanVoice]] = relationship(lazy="raise", cascade="all, delete-orphan")

    UNRANKED = 1_000_000


class UsulanPhoto(Base):
    """A photo stored EXIF-free under MEDIA_DIR, named by the SHA-256 of its bytes."""

    __tablename__ = "usulan_photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usulan_id: Mapped[int] = mapped_column(ForeignKey("usulan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer)


class UsulanVoice(Base):
    """A text of the usulan that came from a voice note: the machine transcript as heard,
    whether the resident corrected it, and the note itself (re-encoded Ogg/Opus without tags,
    under MEDIA_DIR/audio, named by the SHA-256 of its bytes)."""

    __tablename__ = "usulan_voice"
    __table_args__ = (UniqueConstraint("usulan_id", "field"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usulan_id: Mapped[int] = mapped_column(ForeignKey("usulan.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(20))  # permasalahan or usulan
    sha256: Mapped[str] = mapped_column(String(64))
    seconds: Mapped[float] = mapped_column(Float)
    bytes: Mapped[int] = mapped_column(Integer)
    transcript: Mapped[str] = mapped_column(Text)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)


class UsulanEvent(Base):
    """Append-only history of an usulan: the audit trail. Each row chains to the previous one."""

    __tablename__ = "usulan_events"
    __table_args__ = (UniqueConstraint("usulan_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    usulan_id: Mapped[int] = mapped_column(ForeignKey("usulan.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(24))
    from_stage: Mapped[str | None] = mapped_column(String(24))
    from_decision: Mapped[str | None] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(24))
    to_decision: Mapped[str] = mapped_column(String(32))
    reason_code: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ProcessedUpdate(Base):
    """Channel update ids already handled, so a redelivered update is not processed twice."""

    __tablename__ = "processed_updates"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class ProcessedMessage(Base):
    """Channel message ids already handled, for channels whose ids are strings (WhatsApp's
    `wamid`): a redelivered message is acknowledged, not processed twice."""

    __tablename__ = "processed_messages"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)


class ChannelIdentity(Base):
    """One of the ids a channel knows a person by (WhatsApp: the business-scoped user id and
    the phone number's `wa_id`), so a payload carrying either finds the same user."""

    __tablename__ = "channel_identities"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


class Opd(Base):
    """A perangkat daerah of the deployment, and the bidang urusan it holds."""

    __tablename__ = "opd"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(160))
    urusan_codes: Mapped[str] = mapped_column(String(120), default="")


class Official(Base):
    """A role held by a person: which kind of official, and over which wilayah or OPD."""

    __tablename__ = "officials"
    __table_args__ = (Index("ix_officials_user_active", "user_id", "revoked_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(String(24))
    wilayah_code: Mapped[str | None] = mapped_column(String(13))
    opd_code: Mapped[str | None] = mapped_column(ForeignKey("opd.code"))
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id"))
    granted_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Invite(Base):
    """A single-use enrolment code; only its hash is stored."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    code_hint: Mapped[str] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(24))
    wilayah_code: Mapped[str | None] = mapped_column(String(13))
    opd_code: Mapped[str | None] = mapped_column(ForeignKey("opd.code"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ApiToken(Base):
    """A bearer token for the officials' API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Credential(Base):
    """An official's login for the API and dashboard (argon2 hash)."""

    __tablename__ = "credentials"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)


class Support(Base):
    """A resident backing an usulan instead of filing a duplicate."""

    __tablename__ = "usulan_supports"

    usulan_id: Mapped[int] = mapped_column(ForeignKey("usulan.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)


class Rembuk(Base):
    """A rembuk warga: the village meeting that decides, ranks and forwards its usulan."""

    __tablename__ = "rembuk"
    __table_args__ = (Index("ix_rembuk_desa", "desa_code", "planning_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    desa_code: Mapped[str] = mapped_column(String(13))
    planning_year: Mapped[int] = mapped_column(SmallInteger)
    held_on: Mapped[date | None] = mapped_column(Date)
    place: Mapped[str | None] = mapped_column(String(200))
    attendance_total: Mapped[int | None] = mapped_column(Integer)
    attendance_women: Mapped[int | None] = mapped_column(Integer)
    attendance_youth: Mapped[int | None] = mapped_column(Integer)
    attendance_disabled: Mapped[int | None] = mapped_column(Integer)
    attendance_elderly: Mapped[int | None] = mapped_column(Integer)
    minutes_photos: Mapped[list[str]] = mapped_column(JsonType, default=list)
    opened_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    opened_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    confirmed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(Timestamp)


class Notification(Base):
    """Transactional outbox: a message to one recipient, written with the change that causes it."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_due", "state", "next_attempt_at"),
        UniqueConstraint("dedupe_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(160))
    # pending -> sending (leased to one worker) -> sent; or parked (recipient blocked the
    # bot), dead (will not be retried without an operator), muted (recipient opted out).
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(Timestamp)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp)


class ThrottleHit(Base):
    """One counted attempt (a failed login, a tracking-code lookup) of one client, kept only
    while it still counts. In the database so that every process sees the same counts."""

    __tablename__ = "throttle_hits"
    __table_args__ = (Index("ix_throttle_hits_scope_key", "scope", "key", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(64))  # a digest of the username or client address
    expires_at: Mapped[datetime] = mapped_column(Timestamp, index=True)


class SecurityEvent(Base):
    """The security audit log: lockouts, token revocations. Never a password, phone or name;
    client addresses only truncated to their network."""

    __tablename__ = "security_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    username: Mapped[str | None] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(String(200))
