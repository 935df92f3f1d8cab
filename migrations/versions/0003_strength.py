"""noise-removal strength (off, gentle, strong) replaces the on/off switch, for users and jobs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strength", sa.String(length=8), nullable=True))
    op.execute("UPDATE users SET strength = 'off' WHERE NOT denoise")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("denoise")

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("strength", sa.String(length=8), server_default="strong", nullable=False))
    op.execute("UPDATE jobs SET strength = 'off' WHERE NOT denoise")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("denoise")


def downgrade() -> None:
    for table in ("users", "jobs"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("denoise", sa.Boolean(), server_default=sa.true(), nullable=False))
        op.execute(f"UPDATE {table} SET denoise = false WHERE strength = 'off'")
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("strength")
