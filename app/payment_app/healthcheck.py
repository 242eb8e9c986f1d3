"""Container HEALTHCHECK for both commands of the image: the API's liveness path on PORT
(HEALTH_CHECK_PATH, as the load balancer checks it), else the worker's heartbeat file (the worker
serves no HTTP). Exit 0 healthy, 1 unhealthy.
"""

from __future__ import annotations

import os
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from payment_app.config import ConfigError, read_health_check_path, read_port

WORKER_HEARTBEAT = Path("/tmp/payment-worker.alive")
MAX_HEARTBEAT_AGE = 120.0


def health_url(env: Mapping[str, str] | None = None) -> str:
    """The URL the API serves liveness on, from the same PORT and HEALTH_CHECK_PATH it reads."""
    env = os.environ if env is None else env
    return f"http://127.0.0.1:{read_port(env)}{read_health_check_path(env)}"


def healthy(env: Mapping[str, str] | None = None) -> bool:
    """The worker by its heartbeat file when one exists (it serves no HTTP), else the API."""
    if WORKER_HEARTBEAT.exists():
        return time.time() - WORKER_HEARTBEAT.stat().st_mtime < MAX_HEARTBEAT_AGE
    try:
        with urllib.request.urlopen(health_url(env), timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    try:
        sys.exit(0 if healthy() else 1)
    except ConfigError as exc:  # the API itself would refuse to start with this value
        sys.exit(f"configuration error: {exc}")
