"""Alembic environment: online migrations over asyncpg, as the master user, under a lock.

One transaction per run: take the advisory lock, set up the roles (roles.py), switch to the
owner role, apply the revisions, commit. The master login comes from the runner (migrate.py),
which fetched it from Secrets Manager for this run; `alembic` by hand fetches it the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import URL, Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from payment_app.config import Settings, load_settings
from payment_app.db import ssl_context
from payment_app.migrate import (
    MASTER_ATTRIBUTE,
    MasterCredentials,
    fetch_master_credentials,
    login_refused,
    stale_master_error,
)
from payment_app.migrations import roles

# Arbitrary constant shared by every task; serialises concurrent `upgrade` runs.
MIGRATION_LOCK_ID = 7_262_001


def _settings() -> Settings:
    provided = context.config.attributes.get("settings")
    return provided if isinstance(provided, Settings) else load_settings(role="migrate")


def _master(settings: Settings) -> MasterCredentials:
    provided = context.config.attributes.get(MASTER_ATTRIBUTE)
    if isinstance(provided, MasterCredentials):
        return provided
    return fetch_master_credentials(settings)  # `alembic` by hand: read the secret now


def _run(connection: Connection, app_role: str) -> None:
    # Transaction-scoped lock: released on commit or if the task dies mid-migration.
    connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    roles.bootstrap(connection, app_role)
    roles.become_owner(connection)
    context.config.attributes[roles.APP_ROLE_ATTRIBUTE] = app_role
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


async def _run_online(settings: Settings, master: MasterCredentials) -> None:
    url = URL.create(
        "postgresql+asyncpg",
        username=master.username,
        password=master.password,
        host=settings.db_host,
        port=settings.db_port,
        database=settings.db_name,
    )
    engine = create_async_engine(url, connect_args={"ssl": ssl_context(settings), "timeout": 10})
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, settings.db_user)
    except DBAPIError as exc:
        code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if not login_refused(code):
            raise
        raise stale_master_error(settings, master) from None
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against the database")
_current = _settings()
asyncio.run(_run_online(_current, _master(_current)))
