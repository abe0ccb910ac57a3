"""What the beneficiaries count counts: households (KK), people or houses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("usulan") as batch:
        batch.add_column(sa.Column("beneficiaries_unit", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usulan") as batch:
        batch.drop_column("beneficiaries_unit")
