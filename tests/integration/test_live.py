"""Live checks against a deployed stack, with boto3.

    pulumi stack output --json > outputs.json
    PAYMENT_STACK_OUTPUTS=outputs.json pytest -m live tests/integration/test_live.py

Without the outputs file or AWS credentials every test skips and says why, before any network
call. Credentials come from the usual chain (environment, profile, SSO, container role); the
EC2 instance-metadata lookup is skipped unless PAYMENT_LIVE_IMDS=1, so a laptop without
credentials never waits on 169.254.169.254.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.live

OUTPUTS_VAR = "PAYMENT_STACK_OUTPUTS"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def outputs() -> dict[str, Any]:
    path = os.environ.get(OUTPUTS_VAR)
    if not path:
        pytest.skip(
            f"{OUTPUTS_VAR} is not set: export `pulumi stack output --json` to a file and name it"
        )
    if not Path(path).is_file():
        pytest.skip(f"{OUTPUTS_VAR}={path} does not exist")
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or "https_url" not in data:
        pytest.skip(f"{path} holds no payment-platform stack outputs (no https_url)")
    return data


@pytest.fixture(scope="module")
def session(outputs: dict[str, Any]) -> Any:
    boto3 = pytest.importorskip("boto3")
    import botocore.session  # type: ignore[import-untyped]

    core = botocore.session.Session()
    if os.environ.get("PAYMENT_LIVE_IMDS") != "1":
        core.get_component("credential_provider").remove("iam-role")
    if core.get_credentials() is None:
        pytest.skip(
            "no AWS credentials (environment, profile or SSO; PAYMENT_LIVE_IMDS=1 for EC2 roles)"
        )
    return boto3.Session(botocore_session=core, region_name=REGION)


def _https(url: str, path: str) -> tuple[int, str, dict[str, str]]:
    parts = urlsplit(url)
    # NOTE: environments without a domain serve a generated self-signed certificate, so the
    # chain is not verified here; the TLS version is.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(
        parts.hostname or "", parts.port or 443, timeout=15, context=context
    )
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else ""
        return response.status, str(version), dict(response.getheaders())
    finally:
        conn.close()


def test_alb_answers_https_health(outputs: dict[str, Any], session: Any) -> None:
    status, version, _ = _https(outputs["https_url"], "/health")
    assert status == 200
    assert version in ("TLSv1.2", "TLSv1.3")


def test_http_only_redirects_to_https(outputs: dict[str, Any], session: Any) -> None:
    conn = http.client.HTTPConnection(outputs["alb_dns_name"], 80, timeout=15)
    try:
        conn.request("GET", "/health")
        response = conn.getresponse()
        assert response.status == 301
        assert str(response.getheader("Location", "")).startswith("https://")
    finally:
        conn.close()


def test_target_group_has_healthy_targets(outputs: dict[str, Any], session: Any) -> None:
    ecs = session.client("ecs")
    service = ecs.describe_services(
        cluster=outputs["cluster_name"], services=[outputs["api_service_name"]]
    )
    groups = [
        lb["targetGroupArn"] for s in service["services"] for lb in s.get("loadBalancers", [])
    ]
    assert groups, "the API service is not registered with a target group"
    health = session.client("elbv2").describe_target_health(TargetGroupArn=groups[0])
    states = [t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]]
    assert "healthy" in states, f"target states: {states}"


@pytest.mark.parametrize(
    "name", ["payment_queue_url", "payment_dlq_url", "notifications_queue_url"]
)
def test_queue_exists_on_a_customer_key(outputs: dict[str, Any], session: Any, name: str) -> None:
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=outputs[name], AttributeNames=["KmsMasterKeyId", "SqsManagedSseEnabled"]
    )["Attributes"]
    key = attributes.get("KmsMasterKeyId", "")
    assert key and not key.startswith("alias/aws/"), f"{name}: {attributes}"


@pytest.mark.parametrize("name", ["events_topic_arn", "alerts_topic_arn"])
def test_topic_exists_on_a_customer_key(outputs: dict[str, Any], session: Any, name: str) -> None:
    attributes = session.client("sns").get_topic_attributes(TopicArn=outputs[name])["Attributes"]
    key = attributes.get("KmsMasterKeyId", "")
    assert key and not key.startswith("alias/aws/"), f"{name}: {attributes}"


@pytest.mark.parametrize(
    ("host", "port"),
    [
        ("database_writer_endpoint", "database_port"),
        ("database_reader_endpoint", "database_port"),
        ("cache_primary_endpoint", "cache_port"),
    ],
)
def test_data_endpoints_resolve(
    outputs: dict[str, Any], session: Any, host: str, port: str
) -> None:
    addresses = socket.getaddrinfo(outputs[host], int(outputs[port]), proto=socket.IPPROTO_TCP)
    assert addresses, f"{outputs[host]} does not resolve"
