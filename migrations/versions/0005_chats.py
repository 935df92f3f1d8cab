"""group chats and their settings (automatic transcription, language, reply mode); jobs keep the language to
transcribe in and a header (a forwarded note's original sender and time)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 04:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("auto", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("transcribe_language", sa.String(length=8), nullable=True),
        sa.Column("reply_mode", sa.String(length=16), server_default="text", nullable=False),
        sa.Column("updated_by", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("transcribe_language", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("header", sa.Text(), nullable=True))
        batch_op.create_index("ix_jobs_chat_created", ["chat_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_chat_created")
        batch_op.drop_column("header")
        batch_op.drop_column("transcribe_language")
    op.drop_table("chats")
