"""Alembic environment for the run store.

Why: ``engine.store.db`` runs migrations through the Alembic API with a connection it already holds (and has
locked), passed in ``config.attributes["connection"]``. Must not configure logging or open its own engine in
that case; the URL in alembic.ini is only for developers using the alembic CLI.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from wishstar.engine.store.models import Base

config = context.config
connection = config.attributes.get("connection")

if connection is not None:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    engine = create_engine(url or "sqlite://")
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
