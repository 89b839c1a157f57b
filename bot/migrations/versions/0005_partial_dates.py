"""partial policy dates: the precision (year or month) a catalogue gave each date

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = ("date_precision", "effective_date_precision", "expiry_date_precision")


def upgrade() -> None:
    with op.batch_alter_table("policy") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policy") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
