"""Alembic environment: runs online migrations over asyncpg while holding an advisory lock."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import URL, Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from payment_app.config import Settings, load_settings
from payment_app.db import ssl_context

# Arbitrary constant shared by every task; serialises concurrent `upgrade` runs.
MIGRATION_LOCK_ID = 7_262_001


def _settings() -> Settings:
    provided = context.config.attributes.get("settings")
    return provided if isinstance(provided, Settings) else load_settings(role="migrate")


def _run(connection: Connection) -> None:
    # Transaction-scoped lock: released on commit or if the task dies mid-migration.
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


async def _run_online(settings: Settings) -> None:
    url = URL.create(
        "postgresql+asyncpg",
        username=settings.db_user,
        password=settings.db_password,
        host=settings.db_host,
        port=settings.db_port,
        database=settings.db_name,
    )
    engine = create_async_engine(url, connect_args={"ssl": ssl_context(settings), "timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against the database")
asyncio.run(_run_online(_settings()))
