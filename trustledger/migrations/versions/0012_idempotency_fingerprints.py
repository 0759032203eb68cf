"""Idempotency records: keyed fingerprints and the licence each record is about (ADR 0013).

Rows written before this revision hold a bare SHA-256 of the request (holder name and ID number included), which a
dictionary attack can reverse; they are blinded here (the fingerprint is replaced by `shredded`, so their keys are
refused rather than replayed or run again), and `licence_id` is filled in from each stored result so a later shred
finds them.

Revision ID: 0012_idempotency_fingerprints
Revises: 0010_licence_index_display
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0012_idempotency_fingerprints"
down_revision = "0010_licence_index_display"
branch_labels = None
depends_on = None

_BLINDED = "shredded"  # licences.store.SHREDDED_FINGERPRINT, frozen here as a migration must be


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("licence_id", sa.String(length=36), nullable=True))
    op.create_index("ix_idempotency_keys_licence", "idempotency_keys", ["licence_id"])
    table = sa.table(
        "idempotency_keys",
        sa.column("scope", sa.String),
        sa.column("key", sa.String),
        sa.column("result", sa.Text),
        sa.column("request_hash", sa.String),
        sa.column("licence_id", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(table.c.scope, table.c.key, table.c.result)).all()
    for scope, key, result in rows:
        licence_id = _licence_id(result)
        conn.execute(
            sa.update(table)
            .where(table.c.scope == scope, table.c.key == key)
            .values(request_hash=_BLINDED, licence_id=licence_id)
        )


def _licence_id(result: str) -> str | None:
    try:
        value = json.loads(result).get("licence_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and len(value) <= 36 else None


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_index("ix_idempotency_keys_licence")
        batch.drop_column("licence_id")
