"""Licence read models and the registry: licence index, identifiers, history, serials, idempotency keys, holder
keys, catalogue entries, issuers and signing keys (see licences/store.py).

Revision ID: 0002_licences
Revises: 0001_ledger
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_licences"
down_revision = "0001_ledger"
branch_labels = ("licences",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "holder_keys",
        sa.Column("holder_ref", sa.String(length=64), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("holder_ref"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name="pk_idempotency_keys"),
    )
    op.create_table(
        "licence_history",
        sa.Column("licence_id", sa.String(length=36), nullable=False),
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("licence_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("licence_id", "leaf_index", name="pk_licence_history"),
    )
    op.create_table(
        "licence_identifiers",
        sa.Column("identifier", sa.String(length=96), nullable=False),
        sa.Column("licence_id", sa.String(length=36), nullable=False),
        sa.Column("licence_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("identifier"),
    )
    op.create_table(
        "licence_index",
        sa.Column("licence_id", sa.String(length=36), nullable=False),
        sa.Column("identifier", sa.String(length=96), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=18), nullable=False),
        sa.Column("holder_digest", sa.String(length=32), nullable=False),
        sa.Column("holder_kind", sa.String(length=16), nullable=False),
        sa.Column("lifecycle", sa.String(length=16), nullable=False),
        sa.Column("licence_version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_stage", sa.Integer(), nullable=True),
        sa.Column("minted_leaf", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("last_leaf", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("aggregate_version", sa.Integer(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("identifier_check_ok", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("licence_id"),
    )
    op.create_index("ix_licence_index_holder", "licence_index", ["holder_digest"], unique=False)
    op.create_index("ix_licence_index_issuer", "licence_index", ["issuer", "licence_id"], unique=False)
    op.create_index("ix_licence_index_valid_until", "licence_index", ["valid_until"], unique=False)
    op.create_table(
        "licence_serials",
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.String(length=18), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("next_serial", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("type_code", "issuer", "year", name="pk_licence_serials"),
    )
    op.create_table(
        "registry_entries",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_registry_entries"),
    )
    op.create_table(
        "registry_issuers",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("licence_types", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("uscc"),
    )
    op.create_table(
        "registry_keys",
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("alg", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("compromised_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("kid"),
    )
    op.create_index("ix_registry_keys_owner", "registry_keys", ["owner"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_registry_keys_owner", table_name="registry_keys")
    op.drop_table("registry_keys")
    op.drop_table("registry_issuers")
    op.drop_table("registry_entries")
    op.drop_table("licence_serials")
    op.drop_index("ix_licence_index_valid_until", table_name="licence_index")
    op.drop_index("ix_licence_index_issuer", table_name="licence_index")
    op.drop_index("ix_licence_index_holder", table_name="licence_index")
    op.drop_table("licence_index")
    op.drop_table("licence_identifiers")
    op.drop_table("licence_history")
    op.drop_table("idempotency_keys")
    op.drop_table("holder_keys")
