"""The real entrypoint under uvicorn: the port, health-check path and keep-alive the task sets."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from payment_app import healthcheck

APP_DIR = Path(__file__).resolve().parents[2] / "app"
IDLE_TIMEOUT = 3  # seconds; short so the test can outwait it (uvicorn's own default is 5)


@dataclass(frozen=True)
class Served:
    port: int
    env: dict[str, str]


@pytest.fixture(scope="module")
def served(env: dict[str, str], kit: Any) -> Iterator[Served]:
    """`python -m payment_app.api` with PORT, HEALTH_CHECK_PATH and ALB_IDLE_TIMEOUT_SECONDS set."""
    port = kit.free_port()
    task_env = {
        **env,
        "PORT": str(port),
        "HEALTH_CHECK_PATH": "/livez",
        "ALB_IDLE_TIMEOUT_SECONDS": str(IDLE_TIMEOUT),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(APP_DIR),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "payment_app.api"],
        env=task_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        kit.wait_for_port(port, proc)
        yield Served(port, task_env)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_listens_on_port_and_serves_the_health_check_path(served: Served) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    try:
        for path in ("/livez", "/health"):
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            assert response.status == 200, path
    finally:
        conn.close()


def test_container_healthcheck_reaches_the_api(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(healthcheck, "WORKER_HEARTBEAT", tmp_path / "absent.alive")
    assert healthcheck.health_url(served.env) == f"http://127.0.0.1:{served.port}/livez"
    assert healthcheck.healthy(served.env)


def test_idle_connection_outlives_the_alb_idle_timeout(served: Served) -> None:
    """What the ALB does: reuse a connection after it sat idle for almost the idle timeout (and,
    here, a little longer); the API must not have closed it."""
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=5)
    try:
        conn.request("GET", "/livez")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        time.sleep(max(IDLE_TIMEOUT, 5) + 1)  # past the ALB's timeout and uvicorn's default
        conn.request("GET", "/livez")
        second = conn.getresponse()
        second.read()
        assert second.status == 200
        assert conn.sock is sock  # the same TCP connection, not a reconnect
    finally:
        conn.close()
