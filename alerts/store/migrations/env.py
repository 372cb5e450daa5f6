"""Alembic environment: run by :func:`alerts.store.db.migrate` with a live connection."""

from __future__ import annotations

from alembic import context

import alerts.store.models  # noqa: F401  (registers every table on Base.metadata)
from alerts.store.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through alerts.store.db.migrate(engine)")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
