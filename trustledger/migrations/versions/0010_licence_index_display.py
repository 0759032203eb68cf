"""What a citizen's scan shows, on the licence index: the holder's masked name, the minting time, the token key id.

Nullable, not backfilled: the service falls back to replaying the stream for rows written before this revision, and
fills the columns in as those licences are next changed (see licences/projector.py).

Revision ID: 0010_licence_index_display
Revises: 0002_licences
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_licence_index_display"
down_revision = "0002_licences"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("licence_index", sa.Column("display_name", sa.Text(), nullable=True))
    op.add_column("licence_index", sa.Column("minted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("licence_index", sa.Column("token_kid", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("licence_index") as batch:
        batch.drop_column("token_kid")
        batch.drop_column("minted_at")
        batch.drop_column("display_name")
