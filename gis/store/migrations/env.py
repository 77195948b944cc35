"""Alembic environment for the PostGIS metadata tables (layer tables derive from specs)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is required"
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, version_table="gis_alembic_version")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
