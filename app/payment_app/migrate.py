"""Apply Alembic migrations; safe to call from many tasks at once (advisory lock in env.py)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from payment_app.config import ConfigError, Settings, load_settings
from payment_app.logs import configure_logging

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(settings: Settings | None = None) -> Config:
    """Alembic config pointing at the packaged scripts (no alembic.ini needed at runtime)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if settings is not None:
        config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings) -> None:
    """Upgrade the schema to head (blocking)."""
    command.upgrade(alembic_config(settings), "head")
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
    upgrade(settings)


if __name__ == "__main__":
    main()
