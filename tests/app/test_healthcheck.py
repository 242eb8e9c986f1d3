"""The container HEALTHCHECK asks the port and path the API serves, as the task configures them."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from payment_app import healthcheck
from payment_app.config import ConfigError


class _LivezOnly(http.server.BaseHTTPRequestHandler):
    """200 on /livez only, so a check against any other path fails."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/livez" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the default writes every request to stderr."""


@pytest.fixture
def livez_port() -> Iterator[int]:
    """A tiny HTTP server on a free loopback port."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _LivezOnly)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def no_worker_heartbeat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A heartbeat file left by the worker tests would short-circuit the HTTP check."""
    monkeypatch.setattr(healthcheck, "WORKER_HEARTBEAT", tmp_path / "absent.alive")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_url_defaults_to_8080_and_health() -> None:
    assert healthcheck.health_url({}) == "http://127.0.0.1:8080/health"


def test_url_follows_port_and_path() -> None:
    env = {"PORT": "9000", "HEALTH_CHECK_PATH": "/livez"}
    assert healthcheck.health_url(env) == "http://127.0.0.1:9000/livez"


@pytest.mark.parametrize(
    ("env", "variable"),
    [({"PORT": "80"}, "PORT"), ({"HEALTH_CHECK_PATH": "livez"}, "HEALTH_CHECK_PATH")],
)
def test_url_refuses_what_the_api_refuses(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        healthcheck.health_url(env)


def test_healthy_asks_the_configured_port_and_path(livez_port: int) -> None:
    assert healthcheck.healthy({"PORT": str(livez_port), "HEALTH_CHECK_PATH": "/livez"})
    assert not healthcheck.healthy({"PORT": str(livez_port)})  # /health: 404 here
    assert not healthcheck.healthy({"PORT": str(_closed_port()), "HEALTH_CHECK_PATH": "/livez"})


def test_worker_heartbeat_still_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beat = tmp_path / "worker.alive"
    beat.touch()
    monkeypatch.setattr(healthcheck, "WORKER_HEARTBEAT", beat)
    assert healthcheck.healthy({"PORT": str(_closed_port())})
