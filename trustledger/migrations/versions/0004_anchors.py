"""Anchors tables: witness state, timestamp anchors, collected cosignatures, peers, peer checkpoints, fork alarms.

Revision ID: 0004_anchors
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_anchors"
down_revision = "0001_ledger"
branch_labels = ("anchors",)
depends_on = None

_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "anchor_witness_logs",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("verifier_keys", sa.Text(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=True),
    )
    op.create_table(
        "anchor_timestamps",
        sa.Column("note_sha256", sa.LargeBinary(32), primary_key=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", sa.String(32), nullable=False),
        sa.Column("anchored_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_anchor_timestamps_tree_size", "anchor_timestamps", ["tree_size"])
    op.create_table(
        "anchor_cosignatures",
        sa.Column("note_sha256", sa.LargeBinary(32), primary_key=True),
        sa.Column("witness", sa.String(255), primary_key=True),
        sa.Column("key_id", sa.LargeBinary(4), primary_key=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
    )
    op.create_index("ix_anchor_cosignatures_tree_size", "anchor_cosignatures", ["tree_size"])
    op.create_table(
        "anchor_peers",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("base_url", sa.String(1024), nullable=False),
        sa.Column("root_key", sa.LargeBinary(32), nullable=False),
        sa.Column("witness_key", sa.Text(), nullable=True),
        sa.Column("added_at", sa.String(32), nullable=False),
        sa.Column("trust_list", sa.Text(), nullable=True),
        sa.Column("trust_list_version", sa.BigInteger(), nullable=True),
        sa.Column("next_update", sa.String(32), nullable=True),
        sa.Column("last_sync_at", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_table(
        "anchor_peer_checkpoints",
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("seen_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "anchor_alarms",
        sa.Column("id", _id, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("origin", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("first_size", sa.BigInteger(), nullable=False),
        sa.Column("first_note", sa.Text(), nullable=False),
        sa.Column("second_size", sa.BigInteger(), nullable=False),
        sa.Column("second_note", sa.Text(), nullable=False),
        sa.Column("proof", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_anchor_alarms_origin", "anchor_alarms", ["origin"])


def downgrade() -> None:
    op.drop_index("ix_anchor_alarms_origin", "anchor_alarms")
    op.drop_table("anchor_alarms")
    op.drop_table("anchor_peer_checkpoints")
    op.drop_table("anchor_peers")
    op.drop_index("ix_anchor_cosignatures_tree_size", "anchor_cosignatures")
    op.drop_table("anchor_cosignatures")
    op.drop_index("ix_anchor_timestamps_tree_size", "anchor_timestamps")
    op.drop_table("anchor_timestamps")
    op.drop_table("anchor_witness_logs")
