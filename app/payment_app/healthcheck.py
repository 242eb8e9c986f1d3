"""Container HEALTHCHECK for both commands of the image: the API's /health, else the worker's
heartbeat file (the worker serves no HTTP). Exit 0 healthy, 1 unhealthy.
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

WORKER_HEARTBEAT = Path("/tmp/payment-worker.alive")
MAX_HEARTBEAT_AGE = 120.0


def healthy() -> bool:
    """The worker by its heartbeat file when one exists (it serves no HTTP), else the API."""
    if WORKER_HEARTBEAT.exists():
        return time.time() - WORKER_HEARTBEAT.stat().st_mtime < MAX_HEARTBEAT_AGE
    try:
        with urllib.request.urlopen("http://127.0.0.1:8080/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(0 if healthy() else 1)
