"""callback receipts, nonces and the access token

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:14:24.080712
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback_nonce",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_callback_nonce")),
    )
    with op.batch_alter_table("callback_nonce", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_nonce_seen_at"), ["seen_at"], unique=False)

    op.create_table(
        "callback_receipt",
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reply_xml", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dedupe_key", name=op.f("pk_callback_receipt")),
    )
    with op.batch_alter_table("callback_receipt", schema=None) as batch_op:
        batch_op.create_index("ix_callback_receipt_created_at", ["created_at"], unique=False)

    op.create_table(
        "wechat_access_token",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=1024), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_wechat_access_token")),
    )


def downgrade() -> None:
    op.drop_table("wechat_access_token")
    with op.batch_alter_table("callback_receipt", schema=None) as batch_op:
        batch_op.drop_index("ix_callback_receipt_created_at")

    op.drop_table("callback_receipt")
    with op.batch_alter_table("callback_nonce", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_nonce_seen_at"))

    op.drop_table("callback_nonce")
