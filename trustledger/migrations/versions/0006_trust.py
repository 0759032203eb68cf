"""Published trust list versions (DESIGN §6): the signed JSON of each version, never changed once written.

Revision ID: 0006_trust
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_trust"
down_revision = "0001_ledger"
branch_labels = ("trust",)
depends_on = None

_version = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "trust_lists",
        sa.Column(
            "version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False
        ),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_lists")
