"""Alembic environment: runs online against the connection handed in by `trustledger.migrations.upgrade`."""

from alembic import context

from ledger.store import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
