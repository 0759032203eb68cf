"""Seal PKI read models (DESIGN §7): the region seal CA and TSA certificates, department seal certificates and their
revocations (see seals/store.py).

Revision ID: 0007_seals
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_seals"
down_revision = "0001_ledger"
branch_labels = ("seals",)
depends_on = None

_leaf = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "seal_authorities",
        sa.Column("role", sa.String(8), nullable=False),
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cert_sha256", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("leaf_index", _leaf, nullable=False),
        sa.PrimaryKeyConstraint("role", "serial", name="pk_seal_authorities"),
    )
    op.create_table(
        "seal_certificates",
        sa.Column("serial", sa.String(40), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cert_sha256", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("issued_leaf", _leaf, nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_reason", sa.String(32), nullable=True),
        sa.Column("revocation_recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_leaf", _leaf, nullable=True),
        sa.PrimaryKeyConstraint("serial"),
    )
    op.create_index("ix_seal_certificates_issuer", "seal_certificates", ["issuer_uscc", "issued_leaf"])


def downgrade() -> None:
    op.drop_index("ix_seal_certificates_issuer", table_name="seal_certificates")
    op.drop_table("seal_certificates")
    op.drop_table("seal_authorities")
