"""usulan texts that came from a voice note: transcript marker and the kept note

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usulan_voice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("usulan_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("edited", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["usulan_id"],
            ["usulan.id"],
            name=op.f("fk_usulan_voice_usulan_id_usulan"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usulan_voice")),
        sa.UniqueConstraint("usulan_id", "field", name=op.f("uq_usulan_voice_usulan_id")),
    )
    with op.batch_alter_table("usulan_voice", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usulan_voice_usulan_id"), ["usulan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("usulan_voice", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usulan_voice_usulan_id"))
    op.drop_table("usulan_voice")
