"""policy library

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 00:47:17.760180
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "library_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_library_state")),
    )
    op.create_table(
        "policy",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("doc_number", sa.String(length=200), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("level", sa.String(length=8), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("replaced_by", sa.String(length=64), nullable=True),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("exempt_application", sa.Boolean(), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("guide", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy")),
    )
    with op.batch_alter_table("policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_policy_doc_number"), ["doc_number"], unique=False)

    op.create_table(
        "policy_alias",
        sa.Column("alias", sa.String(length=100), nullable=False),
        sa.Column("canonical", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_policy_alias")),
    )
    op.create_table(
        "policy_interpretation",
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policy.id"],
            name=op.f("fk_policy_interpretation_policy_id_policy"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("policy_id", "position", name=op.f("pk_policy_interpretation")),
    )
    op.create_table(
        "qa_pair",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("similar", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["policy.id"],
            name=op.f("fk_qa_pair_policy_id_policy"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qa_pair")),
    )
    with op.batch_alter_table("qa_pair", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qa_pair_policy_id"), ["policy_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("qa_pair", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qa_pair_policy_id"))

    op.drop_table("qa_pair")
    op.drop_table("policy_interpretation")
    op.drop_table("policy_alias")
    with op.batch_alter_table("policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_doc_number"))

    op.drop_table("policy")
    op.drop_table("library_state")
