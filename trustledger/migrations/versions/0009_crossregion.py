"""Cross-region verification: versioned acceptance rules per peer, and the peer leaves whose inclusion was proven.

Revision ID: 0009_crossregion
Revises: 0004_anchors
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_crossregion"
down_revision = "0004_anchors"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "anchor_acceptance_rules",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("version", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("licence_types", sa.Text(), nullable=False),
        sa.Column("set_at", sa.String(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_table(
        "anchor_peer_leaves",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("leaf_index", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("leaf_data", sa.LargeBinary(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.Column("verified_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("anchor_peer_leaves")
    op.drop_table("anchor_acceptance_rules")
