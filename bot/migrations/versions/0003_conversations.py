"""conversations, question log (unanswered inbox), receipt senders for flood control

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("callback_receipt", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(length=64), nullable=True))
        batch_op.create_index(
            "ix_callback_receipt_sender_created_at", ["sender", "created_at"], unique=False
        )

    op.create_table(
        "conversation",
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("facet", sa.String(length=16), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("openid", name=op.f("pk_conversation")),
    )
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "question_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("normalised", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("answered_kind", sa.String(length=8), nullable=True),
        sa.Column("answered_id", sa.String(length=64), nullable=True),
        sa.Column("facet", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_question_log")),
    )
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_log_asked_at"), ["asked_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_log_openid"), ["openid"], unique=False)
        batch_op.create_index(
            "ix_question_log_status_asked_at", ["status", "asked_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("question_log", schema=None) as batch_op:
        batch_op.drop_index("ix_question_log_status_asked_at")
        batch_op.drop_index(batch_op.f("ix_question_log_openid"))
        batch_op.drop_index(batch_op.f("ix_question_log_asked_at"))

    op.drop_table("question_log")
    with op.batch_alter_table("conversation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_expires_at"))

    op.drop_table("conversation")
    with op.batch_alter_table("callback_receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_receipt_sender_created_at")
        batch_op.drop_column("sender")
