"""SQLAlchemy 2 models. Portable types only: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
Timestamp = DateTime(timezone=True)


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
        Index("ix_usulan_queue", "stage", "decision", "desa_code"),
        Index("ix_usulan_submitter", "submitter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    planning_year: Mapped[int] = mapped_column(SmallInteger)
    origin: Mapped[str] = mapped_column(String(16))
    submitter_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitter_name: Mapped[str | None] = mapped_column(String(120))
    submitter_phone: Mapped[str | None] = mapped_column(String(32))
    desa_code: Mapped[str] = mapped_column(String(13), index=True)
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
    support_count: Mapped[int] = mapped_column(Integer, default=0)
    village_rank: Mapped[int | None] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(24))
    decision: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp, default=utcnow, onupdate=utcnow)

    photos: Mapped[list[UsulanPhoto]] = relationship(
        lazy="raise", order_by="UsulanPhoto.position", cascade="all, delete-orphan"
    )


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
