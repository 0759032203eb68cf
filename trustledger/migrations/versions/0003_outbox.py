"""Reminder outbox and contacts: deliveries queued with their ExpiryReminderSent event, holder/department contacts.

Revision ID: 0003_outbox
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_outbox"
down_revision = "0001_ledger"
branch_labels = ("outbox",)
depends_on = None

_when = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reminder_outbox",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(120), nullable=False),
        sa.Column("subscription_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("department", sa.String(18), nullable=False),
        sa.Column("licence_id", sa.String(36), nullable=True),
        sa.Column("stage", sa.Integer(), nullable=True),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("month", sa.String(7), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("available_at", _when, nullable=False),
        sa.Column("lease_token", sa.String(36), nullable=True),
        sa.Column("lease_owner", sa.String(100), nullable=True),
        sa.Column("lease_until", _when, nullable=True),
        sa.Column("created_at", _when, nullable=False),
        sa.Column("sent_at", _when, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_reminder_outbox_due", "reminder_outbox", ["status", "available_at"])
    op.create_index("ix_reminder_outbox_lease", "reminder_outbox", ["lease_token"])
    op.create_index("ix_reminder_outbox_ref", "reminder_outbox", ["ref"])
    op.create_table(
        "reminder_subscriptions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("owner", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(64), nullable=True),
        sa.Column("topics", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", _when, nullable=False),
        sa.UniqueConstraint("owner_kind", "owner", "channel", "address", name="uq_reminder_subscriptions_address"),
    )
    op.create_index("ix_reminder_subscriptions_owner", "reminder_subscriptions", ["owner_kind", "owner"])


def downgrade() -> None:
    op.drop_table("reminder_subscriptions")
    op.drop_table("reminder_outbox")
