"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_INDEXES: tuple[tuple[str, list[str]], ...] = (
    ("ix_usulan_queue_kecamatan", ["kecamatan_code"]),
    ("ix_usulan_queue_opd", ["opd"]),
    ("ix_usulan_queue_region", []),
)


def upgrade() -> None:
    op.create_table(
        "opd",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("urusan_codes", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_opd")),
    )
    op.create_table(
        "processed_updates",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("channel", "update_id", name=op.f("pk_processed_updates")),
    )
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_processed_updates_processed_at"), ["processed_at"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("display_name", sa.String(length=120), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reachable", sa.Boolean(), nullable=False),
        sa.Column("notifications_muted", sa.Boolean(), nullable=False),
        sa.Column("reachability_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("channel", "external_id", name=op.f("uq_users_channel")),
    )
    op.create_table(
        "wilayah",
        sa.Column("code", sa.String(length=13), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parent_code", sa.String(length=13), nullable=True),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_wilayah")),
    )
    with op.batch_alter_table("wilayah", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wilayah_level"), ["level"], unique=False)
        batch_op.create_index(batch_op.f("ix_wilayah_parent_code"), ["parent_code"], unique=False)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=48), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_conversations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_conversations")),
    )
    op.create_table(
        "credentials",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_credentials_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_credentials")),
        sa.UniqueConstraint("username", name=op.f("uq_credentials_username")),
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("code_hint", sa.String(length=8), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("wilayah_code", sa.String(length=13), nullable=True),
        sa.Column("opd_code", sa.String(length=32), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["claimed_by"], ["users.id"], name=op.f("fk_invites_claimed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_invites_created_by_users")
        ),
        sa.ForeignKeyConstraint(["opd_code"], ["opd.code"], name=op.f("fk_invites_opd_code_opd")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_invites_code_hash")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index("ix_notifications_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "rembuk",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("desa_code", sa.String(length=13), nullable=False),
        sa.Column("planning_year", sa.SmallInteger(), nullable=False),
        sa.Column("held_on", sa.Date(), nullable=True),
        sa.Column("place", sa.String(length=200), nullable=True),
        sa.Column("attendance_total", sa.Integer(), nullable=True),
        sa.Column("attendance_women", sa.Integer(), nullable=True),
        sa.Column("attendance_youth", sa.Integer(), nullable=True),
        sa.Column("attendance_disabled", sa.Integer(), nullable=True),
        sa.Column("attendance_elderly", sa.Integer(), nullable=True),
        sa.Column(
            "minutes_photos",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("opened_by", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_by", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["users.id"], name=op.f("fk_rembuk_confirmed_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"], ["users.id"], name=op.f("fk_rembuk_opened_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rembuk")),
    )
    with op.batch_alter_table("rembuk", schema=None) as batch_op:
        batch_op.create_index("ix_rembuk_desa", ["desa_code", "planning_year"], unique=False)

    op.create_table(
        "officials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.Column("wilayah_code", sa.String(length=13), nullable=True),
        sa.Column("opd_code", sa.String(length=32), nullable=True),
        sa.Column("invite_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invite_id"], ["invites.id"], name=op.f("fk_officials_invite_id_invites")
        ),
        sa.ForeignKeyConstraint(["opd_code"], ["opd.code"], name=op.f("fk_officials_opd_code_opd")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_officials_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_officials")),
    )
    with op.batch_alter_table("officials", schema=None) as batch_op:
        batch_op.create_index("ix_officials_user_active", ["user_id", "revoked_at"], unique=False)

    op.create_table(
        "usulan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("planning_year", sa.SmallInteger(), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("submitter_id", sa.Integer(), nullable=True),
        sa.Column("submitter_name", sa.String(length=120), nullable=True),
        sa.Column("submitter_phone", sa.String(length=32), nullable=True),
        sa.Column("desa_code", sa.String(length=13), nullable=False),
        sa.Column("kecamatan_code", sa.String(length=8), nullable=False),
        sa.Column("dusun", sa.String(length=120), nullable=True),
        sa.Column("rt", sa.String(length=8), nullable=True),
        sa.Column("rw", sa.String(length=8), nullable=True),
        sa.Column("street", sa.String(length=200), nullable=True),
        sa.Column("latitude", sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
        sa.Column("longitude", sa.Numeric(precision=9, scale=6, asdecimal=False), nullable=True),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("urusan_code", sa.String(length=8), nullable=True),
        sa.Column("opd", sa.String(length=160), nullable=True),
        sa.Column("permasalahan", sa.Text(), nullable=False),
        sa.Column("usulan", sa.Text(), nullable=False),
        sa.Column("volume", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("beneficiaries", sa.Integer(), nullable=True),
        sa.Column("support_count", sa.Integer(), nullable=False),
        sa.Column("village_rank", sa.Integer(), nullable=True),
        sa.Column("queue_rank", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("rembuk_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["usulan.id"], name=op.f("fk_usulan_merged_into_id_usulan")
        ),
        sa.ForeignKeyConstraint(
            ["rembuk_id"], ["rembuk.id"], name=op.f("fk_usulan_rembuk_id_rembuk")
        ),
        sa.ForeignKeyConstraint(
            ["submitter_id"], ["users.id"], name=op.f("fk_usulan_submitter_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usulan")),
        sa.UniqueConstraint("code", name=op.f("uq_usulan_code")),
    )
    with op.batch_alter_table("usulan", schema=None) as batch_op:
        batch_op.create_index(
            "ix_usulan_desa_stage", ["desa_code", "stage", "decision"], unique=False
        )
        batch_op.create_index("ix_usulan_submitter", ["submitter_id", "created_at"], unique=False)
    # The queue indexes, in queue order (support DESC): autogenerate cannot compare indexes
    # with expressions, so they are written here by hand; models.QUEUE_INDEXES matches them.
    for name, scope in QUEUE_INDEXES:
        op.create_index(
            name,
            "usulan",
            [
                "stage",
                "decision",
                *scope,
                "queue_rank",
                sa.text("support_count DESC"),
                "created_at",
                "id",
            ],  # fmt: skip
        )

    op.create_table(
        "usulan_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("usulan_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("from_stage", sa.String(length=24), nullable=True),
        sa.Column("from_decision", sa.String(length=32), nullable=True),
        sa.Column("to_stage", sa.String(length=24), nullable=False),
        sa.Column("to_decision", sa.String(length=32), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("prev_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["users.id"], name=op.f("fk_usulan_events_actor_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["usulan_id"], ["usulan.id"], name=op.f("fk_usulan_events_usulan_id_usulan")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usulan_events")),
        sa.UniqueConstraint("usulan_id", "seq", name=op.f("uq_usulan_events_usulan_id")),
    )
    with op.batch_alter_table("usulan_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usulan_events_usulan_id"), ["usulan_id"], unique=False)

    op.create_table(
        "usulan_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("usulan_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["usulan_id"],
            ["usulan.id"],
            name=op.f("fk_usulan_photos_usulan_id_usulan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usulan_photos")),
    )
    with op.batch_alter_table("usulan_photos", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usulan_photos_usulan_id"), ["usulan_id"], unique=False)

    op.create_table(
        "usulan_supports",
        sa.Column("usulan_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_usulan_supports_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["usulan_id"], ["usulan.id"], name=op.f("fk_usulan_supports_usulan_id_usulan")
        ),
        sa.PrimaryKeyConstraint("usulan_id", "user_id", name=op.f("pk_usulan_supports")),
    )


def downgrade() -> None:
    op.drop_table("usulan_supports")
    with op.batch_alter_table("usulan_photos", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usulan_photos_usulan_id"))

    op.drop_table("usulan_photos")
    with op.batch_alter_table("usulan_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usulan_events_usulan_id"))

    op.drop_table("usulan_events")
    for name, _ in QUEUE_INDEXES:
        op.drop_index(name, table_name="usulan")
    with op.batch_alter_table("usulan", schema=None) as batch_op:
        batch_op.drop_index("ix_usulan_submitter")
        batch_op.drop_index("ix_usulan_desa_stage")

    op.drop_table("usulan")
    with op.batch_alter_table("officials", schema=None) as batch_op:
        batch_op.drop_index("ix_officials_user_active")

    op.drop_table("officials")
    with op.batch_alter_table("rembuk", schema=None) as batch_op:
        batch_op.drop_index("ix_rembuk_desa")

    op.drop_table("rembuk")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id"))
        batch_op.drop_index("ix_notifications_due")

    op.drop_table("notifications")
    op.drop_table("invites")
    op.drop_table("credentials")
    op.drop_table("conversations")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    with op.batch_alter_table("wilayah", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wilayah_parent_code"))
        batch_op.drop_index(batch_op.f("ix_wilayah_level"))

    op.drop_table("wilayah")
    op.drop_table("users")
    with op.batch_alter_table("processed_updates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_processed_updates_processed_at"))

    op.drop_table("processed_updates")
    op.drop_table("opd")
