"""`python -m payment_app.worker`: poll the payment queue and its DLQ until SIGTERM, then stop
within seconds (the long polls are not waited for), finish in-flight work and exit 0.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from redis.credentials import CredentialProvider

from payment_app import aws, cache, db, migrate
from payment_app.config import ConfigError, Settings, load_settings
from payment_app.credentials import DbPassword
from payment_app.logs import configure_logging
from payment_app.processor import load_processor
from payment_app.worker.service import PaymentWorker


async def serve(
    settings: Settings,
    *,
    db_password: DbPassword | None = None,
    redis_credentials: CredentialProvider | None = None,
) -> None:
    """Open the dependencies, run until SIGTERM/SIGINT, close them even if the worker fails.

    The credential providers default to those DB_AUTH and REDIS_AUTH select, as for the API. On
    ECS RUN_MIGRATIONS is false here, so the worker never needs the master secret.
    """
    if settings.run_migrations:
        await migrate.upgrade_async(settings)
    pool = await db.create_pool(settings, db_password)
    redis_client = cache.create_client(settings, redis_credentials)
    worker = PaymentWorker(
        settings,
        pool,
        cache.PaymentCache(redis_client, settings.cache_ttl_seconds),
        load_processor(settings),
        sqs=aws.client(settings, "sqs", read_timeout=settings.worker_wait_seconds + 10),
        s3=aws.client(settings, "s3"),
        sns=aws.client(settings, "sns"),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.request_stop)
    try:
        await worker.run()
    finally:
        await pool.close()
        await redis_client.aclose()


def main() -> None:
    """Run the worker; a configuration error exits with one line instead of a traceback."""
    try:
        settings = load_settings(role="worker")
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging(settings.log_level, "payment-worker", settings.environment)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
