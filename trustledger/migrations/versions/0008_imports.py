"""Bulk-import checkpoints: one row per source file (by SHA-256), written in each batch's transaction.

Revision ID: 0008_imports
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_imports"
down_revision = "0001_ledger"
branch_labels = ("imports",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_progress",
        sa.Column("file_sha256", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("lines_done", sa.BigInteger(), nullable=False),
        sa.Column("imported", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("finished", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("import_progress")
