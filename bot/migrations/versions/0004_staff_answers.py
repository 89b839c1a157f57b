"""staff answers to the unanswered inbox and their deliveries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_answer",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=True),
        sa.Column("qa_id", sa.String(length=64), nullable=True),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_answer")),
    )
    op.create_table(
        "answer_delivery",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("errcode", sa.Integer(), nullable=True),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["staff_answer.id"],
            name=op.f("fk_answer_delivery_answer_id_staff_answer"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["question_log.id"],
            name=op.f("fk_answer_delivery_question_id_question_log"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("question_id", name=op.f("pk_answer_delivery")),
    )
    with op.batch_alter_table("answer_delivery", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_answer_delivery_answer_id"), ["answer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("answer_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answer_delivery_answer_id"))

    op.drop_table("answer_delivery")
    op.drop_table("staff_answer")
