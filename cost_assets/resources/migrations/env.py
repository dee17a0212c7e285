"""Alembic environment: the connection comes from the caller (cost_assets.resources.migrations.config)."""

from alembic import context

from cost_assets.resources import schema

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through cost_assets.resources.migrations (cost-warehouse upgrade), "
                       "which passes the warehouse connection")
context.configure(
    connection=connection,
    target_metadata=schema.metadata,
    compare_type=True,
    render_as_batch=True,  # SQLite alters tables by copying them
)
with context.begin_transaction():
    context.run_migrations()
