"""`python -m payment_app.api`: serve on 0.0.0.0:PORT (default 8080); uvicorn drains requests on
SIGTERM and keeps idle connections open longer than the load balancer does (see config).
"""

from __future__ import annotations

import sys

import uvicorn

from payment_app.api.app import create_app
from payment_app.config import ConfigError, load_settings
from payment_app.logs import configure_logging


def main() -> None:
    """Serve the API; a configuration error exits with one line instead of a traceback."""
    try:
        settings = load_settings(role="api")
    except ConfigError as exc:
        sys.exit(f"configuration error: {exc}")
    configure_logging(settings.log_level, "payment-api", settings.environment)
    uvicorn.run(
        create_app(settings),
        host="0.0.0.0",  # container port, reached only through the load balancer
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        proxy_headers=True,
        forwarded_allow_ips="*",
        # Outlasts ALB_IDLE_TIMEOUT_SECONDS, so the ALB never reuses a connection we closed (502).
        timeout_keep_alive=settings.keep_alive_seconds,
        timeout_graceful_shutdown=25,
    )


if __name__ == "__main__":
    main()
