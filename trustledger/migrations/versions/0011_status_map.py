"""The status map (DESIGN §4b): its versioned nodes and values, written with the events that change a status.

Revision ID: 0011_status_map
Revises: 0002_licences

A region migrated from before this revision has licences but an empty map: `trustledger migrate` then rebuilds the
map from the events (trustledger/status.py, `rebuild_status_map`) before the next checkpoint commits to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_status_map"
down_revision = "0002_licences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "status_map_nodes",
        sa.Column("node_key", sa.LargeBinary(34), primary_key=True),
        sa.Column("map_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("leaf_path", sa.LargeBinary(32), nullable=True),
        sa.Column("value_hash", sa.LargeBinary(32), nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "status_map_values",
        sa.Column("path", sa.LargeBinary(32), primary_key=True),
        sa.Column("map_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("stream", sa.String(255), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_status_map_values_stream", "status_map_values", ["stream", "map_size"])


def downgrade() -> None:
    op.drop_index("ix_status_map_values_stream", table_name="status_map_values")
    op.drop_table("status_map_values")
    op.drop_table("status_map_nodes")
