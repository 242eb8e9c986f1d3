"""The published contract: /openapi.json as served, docs/openapi.json as committed, and
schemathesis driving every operation of the real app against the real test servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis.stateful import run_state_machine_as_test
from payment_app import models
from payment_app.api import create_app
from payment_app.api.openapi import (
    COMMITTED_PATH,
    OPENAPI_PATH,
    WRITE_COMMAND,
    docs_settings,
    render,
)
from payment_app.config import Settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

REPO = Path(__file__).resolve().parents[2]
# Per operation. Each POST example is a real insert into PostgreSQL (and a message for the
# outbox relay), so the budget is what keeps the run short; 25 still covers every documented
# status of POST /payments several times over, with the explicit and coverage phases on top.
MAX_EXAMPLES = 25
STATEFUL_EXAMPLES = 10  # scenarios of up to 3 calls: enough to create and read back several
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


# Loaded at import, so pytest collects one test per operation. The document is the one the app
# serves (create_app's, with the default health-check path as the test settings have); the
# cases are sent to a second app, `served_app`, running against the test servers. (A schema
# loaded from a fixture, `schemathesis.pytest.from_fixture`, would avoid the second app, but its
# runner sets `Node._nodeid`, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_dict(create_app(docs_settings()).openapi())


@pytest.fixture
def served_app(settings: Settings) -> Iterator[FastAPI]:
    """The real app; schemathesis starts its lifespan on the first call, in its own loop thread."""
    app = create_app(settings)
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()


@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the work tree; a failure prints its example
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_schema(
    case: Any, served_app: FastAPI, api_headers: dict[str, str]
) -> None:
    case.call_and_validate(app=served_app, headers=api_headers, checks=CHECKS)


def test_accepted_payment_reads_back_as_documented(
    served_app: FastAPI, api_headers: dict[str, str]
) -> None:
    """Stateful: POST /payments, then GET its status through the 202's link, so the 200 body
    and X-Cache are checked against a payment that exists (random ids only ever find 404)."""

    class Machine(schema.as_state_machine()):  # type: ignore[misc]  # built from the document
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"app": served_app, "headers": api_headers}

        def validate_response(
            self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any
        ) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None)

    run_state_machine_as_test(
        Machine,
        settings=hypothesis_settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=3,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


@pytest.mark.asyncio
async def test_committed_document_is_current(client: httpx.AsyncClient) -> None:
    served = await client.get(OPENAPI_PATH)
    assert served.status_code == 200
    committed = (REPO / COMMITTED_PATH).read_text(encoding="utf-8")
    assert render(served.json()) == committed, f"{COMMITTED_PATH} is stale: run `{WRITE_COMMAND}`"


@pytest.mark.asyncio
async def test_document_describes_what_the_handlers_do(client: httpx.AsyncClient) -> None:
    document = (await client.get(OPENAPI_PATH)).json()
    create = document["paths"]["/payments"]["post"]
    body = create["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    request_schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(request_schema["properties"]) == set(models.PaymentRequest.model_fields)
    assert request_schema["additionalProperties"] is False
    (key,) = [p for p in create["parameters"] if p["name"] == "Idempotency-Key"]
    assert key["in"] == "header" and key["required"] is True
    assert key["schema"]["pattern"] == models.IDEMPOTENCY_KEY_PATTERN
    assert document["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    for path, method, statuses in [
        ("/payments", "post", {"202", "400", "401", "405", "409", "413", "415", "422", "503"}),
        ("/payments/{payment_id}", "get", {"200", "401", "404", "405", "503"}),
        ("/health", "get", {"200", "405", "503"}),
        ("/ready", "get", {"200", "405", "503"}),
    ]:
        operation = document["paths"][path][method]
        assert set(operation["responses"]) == statuses, (method, path)
        if path.startswith("/payments"):
            assert {"ApiKey": []} in operation["security"]
        unavailable = operation["responses"]["503"]
        assert "Retry-After" in unavailable["headers"]
    assert "Idempotent-Replayed" in create["responses"]["202"]["headers"]
    status = document["paths"]["/payments/{payment_id}"]["get"]["responses"]["200"]
    assert "X-Cache" in status["headers"]
    assert "HTTPValidationError" not in json.dumps(document)


@pytest.mark.asyncio
async def test_document_includes_the_configured_health_check_path(settings: Settings) -> None:
    app = create_app(replace(settings, health_check_path="/lb/alive"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        document = (await http.get(OPENAPI_PATH)).json()
        alive = await http.get("/lb/alive")
    assert set(document["paths"]["/lb/alive"]["get"]["responses"]) == {"200", "405", "503"}
    assert alive.json() == {"status": "ok"}
