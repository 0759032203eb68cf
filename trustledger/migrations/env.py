"""Alembic environment: runs online against the connection handed in by `trustledger.migrations.upgrade`."""

from alembic import context

from trustledger.migrations.schema import declared_metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=declared_metadata(), render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
