"""web jobs: the Telegram columns become optional; a public id, the sender's hash and the stage for web uploads

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TELEGRAM_COLUMNS = {
    "user_id": sa.BigInteger(),
    "chat_id": sa.BigInteger(),
    "message_id": sa.BigInteger(),
    "file_id": sa.String(length=256),
    "file_unique_id": sa.String(length=64),
}


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        for name, type_ in TELEGRAM_COLUMNS.items():
            batch_op.alter_column(name, existing_type=type_, nullable=True)
        batch_op.add_column(sa.Column("public_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("stage", sa.String(length=16), nullable=True))
        batch_op.create_unique_constraint("uq_jobs_public_id", ["public_id"])
        batch_op.create_index("ix_jobs_client_created", ["client", "created_at"], unique=False)


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE source = 'web'")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_client_created")
        batch_op.drop_constraint("uq_jobs_public_id", type_="unique")
        batch_op.drop_column("stage")
        batch_op.drop_column("client")
        batch_op.drop_column("public_id")
        for name, type_ in TELEGRAM_COLUMNS.items():
            batch_op.alter_column(name, existing_type=type_, nullable=False)
