"""boto3 clients; AWS_ENDPOINT_URL (honoured by boto3 itself) points them at moto in tests."""

from __future__ import annotations

from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]

from payment_app.config import Settings


def client(settings: Settings, service: str, read_timeout: float = 10.0) -> Any:
    """A client with bounded timeouts and botocore's standard retry mode."""
    config = Config(
        region_name=settings.aws_region,
        connect_timeout=3,
        read_timeout=read_timeout,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=50,
    )
    return boto3.session.Session().client(
        service, config=config, endpoint_url=settings.aws_endpoint_url
    )
