"""Apply Alembic migrations; safe to call from many tasks at once (advisory lock in env.py).

Migrations are the one thing that logs in as the RDS master user. Its secret (RDS-managed,
rotated every 7 days) is read from Secrets Manager when a migration run starts, never at import
or settings time, and dropped when the run ends: a running service never holds it, so a rotation
can only ever affect the next run, which reads the new value.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from payment_app import aws
from payment_app.config import ConfigError, Settings, load_settings
from payment_app.logs import configure_logging

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MASTER_ATTRIBUTE = "master_credentials"  # Alembic config attribute env.py reads the login from


class MigrationError(RuntimeError):
    """The migration run cannot log in or is misconfigured; the message says which and why."""


@dataclass(frozen=True)
class MasterCredentials:
    """The RDS master login, for one migration run; the password stays out of repr."""

    username: str
    password: str = field(repr=False)


def login_refused(sqlstate: object) -> bool:
    """SQLSTATE 28P01 invalid_password / 28000 invalid_authorization_specification."""
    return isinstance(sqlstate, str) and sqlstate.startswith("28")


def stale_master_error(settings: Settings, master: MasterCredentials) -> MigrationError:
    """The database refused the master login: what to tell the operator (both the migrations
    and the merchants command log in with it).
    """
    return MigrationError(
        f"the database refused the master login {master.username!r} from "
        f"DB_MIGRATION_SECRET_ARN ({settings.db_migration_secret_arn}): the secret is stale "
        "or wrong (RDS rotates it every 7 days; a new run reads the current value)"
    )


def fetch_master_credentials(settings: Settings) -> MasterCredentials:
    """Read the master secret (SecretString JSON with username and password) now (blocking)."""
    arn = settings.db_migration_secret_arn
    if not arn:
        raise MigrationError("DB_MIGRATION_SECRET_ARN is not set: migrations need the master login")
    secrets = aws.client(settings, "secretsmanager")
    raw = secrets.get_secret_value(SecretId=arn).get("SecretString")
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError:
        data = None
    user = data.get("username") if isinstance(data, dict) else None
    password = data.get("password") if isinstance(data, dict) else None
    if not isinstance(user, str) or not user or not isinstance(password, str) or not password:
        raise MigrationError(
            f"secret {arn} (DB_MIGRATION_SECRET_ARN) must be JSON with non-empty username and "
            "password, as the RDS-managed master secret is"
        )
    if user == settings.db_user:
        raise MigrationError(
            f"DB_USER must be the application role, not the master user {user!r}: the service "
            "would serve with full rights"
        )
    return MasterCredentials(user, password)


def alembic_config(settings: Settings | None = None) -> Config:
    """Alembic config pointing at the packaged scripts (no alembic.ini needed at runtime)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def head_revision() -> str:
    """The newest revision of the packaged scripts: what `upgrade` brings a database to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("no migration scripts found")
    return head


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Fetch the master login, upgrade the schema to `revision` with it, forget it (blocking)."""
    config = alembic_config(settings)
    config.attributes[MASTER_ATTRIBUTE] = fetch_master_credentials(settings)
    try:
        command.upgrade(config, revision)
    finally:
        config.attributes.pop(MASTER_ATTRIBUTE, None)
    log.info("database schema at head")


async def upgrade_async(settings: Settings, attempts: int = 10) -> None:
    """Upgrade in a thread, retrying while the database is still coming up."""
    for attempt in range(1, attempts + 1):
        try:
            await asyncio.to_thread(upgrade, settings)
            return
        except ssl.SSLCertVerificationError:
            raise  # a wrong CA or host name does not heal by waiting: fail the task now
        except (OSError, ConnectionError) as exc:
            if attempt == attempts:
                raise
            log.warning("migration attempt failed, retrying", extra={"error": type(exc).__name__})
            await asyncio.sleep(min(2.0 * attempt, 10.0))


def main() -> None:
    """Entry point for `python -m payment_app.migrate`."""
    try:
        settings = load_settings(role="migrate")
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging(settings.log_level, "payment-migrate", settings.environment)
    try:
        upgrade(settings)
    except MigrationError as exc:
        sys.exit(f"migration error: {exc}")


if __name__ == "__main__":
    main()
