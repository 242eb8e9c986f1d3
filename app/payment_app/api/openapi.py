"""The OpenAPI document the API serves at /openapi.json and the repository keeps at
docs/openapi.json.

FastAPI's generated schema is the starting point, but it cannot see what the handlers do by
hand: POST /payments reads its raw body (to scan it for card data before any parsing) and its
Idempotency-Key header itself, and every error goes through errors.py. `complete` adds those
from the code that implements them (models.PaymentRequest, models.IDEMPOTENCY_KEY_PATTERN,
errors.RETRY_AFTER_SECONDS, ...), so a model change flows into the document.

`python -m payment_app.api.openapi [--write PATH]` prints (or writes) the document of an app
with the default settings; tests/app/test_contract.py fails when docs/openapi.json is stale.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from payment_app import models
from payment_app.api import errors
from payment_app.config import Settings

OPENAPI_PATH = "/openapi.json"
SECURITY_SCHEME = "ApiKey"
COMMITTED_PATH = "docs/openapi.json"
WRITE_COMMAND = (
    f"PYTHONPATH=app .venv/bin/python -m payment_app.api.openapi --write {COMMITTED_PATH}"
)
# The request id RequestContextMiddleware accepts (anything else is replaced by a new one).
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._\-]{8,64}$"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
Operation = dict[str, Any]


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the completed document: FastAPI's /openapi.json route calls `app.openapi`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build(app, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's schema of the app's routes, completed to describe what the handlers do."""
    document = get_openapi(
        title=app.title, version=app.version, description=_DESCRIPTION, routes=app.routes
    )
    complete(document, settings.health_check_path)
    return document


def render(document: dict[str, Any]) -> str:
    """Stable text for the committed file: sorted keys, two-space indent, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True) + "\n"


_DESCRIPTION = (
    "Accepts payments (idempotently, per merchant and Idempotency-Key) and reports their status. "
    "Card numbers and security codes are refused anywhere in a request. Every error has the one "
    'shape `{"error": {"code", "message", "details"?}}` and never echoes input; every '
    "request is bounded by one deadline, after which the answer is 503 with Retry-After."
)


def _ref(name: str, kind: str = "schemas") -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _payment_request_schema(schemas: dict[str, Any]) -> dict[str, Any]:
    """models.PaymentRequest's JSON schema, its nested definitions hoisted into components."""
    schema = models.PaymentRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in schema.pop("$defs", {}).items():
        schemas[name] = definition
    currency = schema.get("properties", {}).get("currency")
    # The model checks the allow-list in a validator, which pydantic cannot express in JSON
    # Schema; without the enum every generated or hand-written currency would be a guess.
    if isinstance(currency, dict) and currency.get("type") == "string" and "enum" not in currency:
        currency["enum"] = sorted(models.ALLOWED_CURRENCIES)
    return schema


def _schemas(schemas: dict[str, Any]) -> None:
    """The bodies the handlers write by hand, next to the one error shape."""
    statuses = list(typing.get_args(models.PaymentStatus))
    schemas["PaymentRequest"] = _payment_request_schema(schemas)
    schemas["ErrorDetail"] = {
        "type": "object",
        "description": "One problem: a field path (card numbers redacted) and what is wrong.",
        "properties": {"field": {"type": "string"}, "error": {"type": "string"}},
        "required": ["field", "error"],
        "additionalProperties": False,
    }
    schemas["Error"] = {
        "type": "object",
        "description": "The one error shape; it never echoes request input.",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable"},
                    "message": {"type": "string"},
                    "details": {"type": "array", "items": _ref("ErrorDetail"), "minItems": 1},
                },
                "required": ["code", "message"],
                "additionalProperties": False,
            }
        },
        "required": ["error"],
        "additionalProperties": False,
    }
    schemas["PaymentAccepted"] = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": statuses},
            "status_url": {"type": "string", "description": "GET this for the status"},
        },
        "required": ["id", "status", "status_url"],
        "additionalProperties": False,
    }
    schemas["PaymentStatusView"] = {
        "type": "object",
        "description": "A payment as its merchant sees it (models.Payment.public_view).",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "status": {"type": "string", "enum": statuses},
            "amount": {"type": "integer", "description": "minor units"},
            "currency": {"type": "string"},
            "merchant_id": {"type": "string"},
            "failure_reason": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
            "updated_at": {"type": "string", "format": "date-time"},
        },
        "required": [
            "id",
            "status",
            "amount",
            "currency",
            "merchant_id",
            "failure_reason",
            "created_at",
            "updated_at",
        ],
        "additionalProperties": False,
    }
    schemas["Health"] = {
        "type": "object",
        "properties": {"status": {"type": "string", "enum": ["ok"]}},
        "required": ["status"],
        "additionalProperties": False,
    }
    schemas["Readiness"] = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ready", "not_ready"]},
            "checks": {
                "type": "object",
                "description": '"ok" or "error: <exception type>" per dependency',
                "properties": {"database": {"type": "string"}, "cache": {"type": "string"}},
                "required": ["database", "cache"],
                "additionalProperties": False,
            },
        },
        "required": ["status", "checks"],
        "additionalProperties": False,
    }


def _headers(headers: dict[str, Any]) -> None:
    headers["X-Request-ID"] = {
        "description": "The request's X-Request-ID when valid, else a new id; also in the logs.",
        "schema": {"type": "string", "pattern": REQUEST_ID_PATTERN},
    }
    headers["Retry-After"] = {
        "description": "Seconds to wait before retrying the same request.",
        "schema": {"type": "integer", "minimum": 0, "examples": [errors.RETRY_AFTER_SECONDS]},
        "required": True,
    }
    headers["Allow"] = {
        "description": "The methods this path has.",
        "schema": {"type": "string"},
        "required": True,
    }
    headers["WWW-Authenticate"] = {
        "description": "The scheme to authenticate with: Bearer.",
        "schema": {"type": "string"},
        "required": True,
    }
    headers["Idempotent-Replayed"] = {
        "description": "true when the key was seen before with the same body: nothing new was "
        "created or enqueued.",
        "schema": {"type": "string", "enum": ["true", "false"]},
        "required": True,
    }
    headers["X-Cache"] = {
        "description": "Whether the status came from the cache.",
        "schema": {"type": "string", "enum": ["hit", "miss"]},
        "required": True,
    }


def _response(description: str, schema: dict[str, Any], *headers: str) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {name: _ref(name, "headers") for name in ("X-Request-ID", *headers)},
        "content": _json(schema),
    }


def _error(description: str, *headers: str) -> dict[str, Any]:
    return _response(description, _ref("Error"), *headers)


# The error responses, by status: what each means and which codes it carries.
ERRORS: dict[str, dict[str, Any]] = {
    "400": _error(
        "Malformed request: `invalid_json` (empty, not UTF-8 JSON, NaN/Infinity, a duplicate "
        "key, nested too deeply), `missing_idempotency_key`, `invalid_idempotency_key`, "
        "`invalid_request` (a bad Content-Length)."
    ),
    "401": _error(
        "`unauthorized`: no valid API key (`Authorization: Bearer <key>`).", "WWW-Authenticate"
    ),
    "404": _error("`not_found`: no such payment for this merchant."),
    "405": _error("`method_not_allowed`: this path does not have the method.", "Allow"),
    "409": _error("`idempotency_conflict`: the Idempotency-Key was used before with another body."),
    "413": _error("`body_too_large`: the body exceeds MAX_BODY_BYTES."),
    "415": _error("`unsupported_media_type`: Content-Type is not application/json."),
    "422": _error(
        "`invalid_request`: the body does not match PaymentRequest, or a string holds a "
        "character that cannot be stored (NUL, a lone surrogate); `card_data_rejected`: a "
        "card number or security code was sent (details name the field only)."
    ),
    "503": _error(
        "`unavailable`: a dependency is down or too slow, or the request deadline passed; "
        "retry the same request (with the same Idempotency-Key) after Retry-After seconds.",
        "Retry-After",
    ),
}


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, Operation]]:
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                yield path, method, item[method]


def _drop_fastapi_validation(operation: Operation) -> None:
    """FastAPI's own 422 (HTTPValidationError) is never sent: errors.py answers with Error."""
    responses = operation.setdefault("responses", {})
    schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema")
    if schema == _ref("HTTPValidationError"):
        del responses["422"]


def _set_errors(operation: Operation, *statuses: str) -> None:
    for status in statuses:
        operation["responses"][status] = copy.deepcopy(ERRORS[status])


def _create_payment(operation: Operation) -> None:
    operation["summary"] = "Accept a payment"
    operation["description"] = (
        "Stores the payment once per merchant and Idempotency-Key and queues it for processing. "
        "Retrying with the same key and body returns the same payment (Idempotent-Replayed: "
        "true); the same key with another body is 409."
    )
    parameters = [p for p in operation.get("parameters", []) if p.get("name") != "Idempotency-Key"]
    parameters.append(
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": True,
            "description": "Chosen by the client, unique per payment; reuse it to retry.",
            "schema": {"type": "string", "pattern": models.IDEMPOTENCY_KEY_PATTERN},
        }
    )
    operation["parameters"] = parameters
    operation["requestBody"] = {"required": True, "content": _json(_ref("PaymentRequest"))}
    operation["responses"] = {
        "202": _response(
            "Accepted (new, or a replay of the same key and body).",
            _ref("PaymentAccepted"),
            "Idempotent-Replayed",
        )
    }
    _set_errors(operation, "400", "401", "405", "409", "413", "415", "422", "503")


def _get_payment(operation: Operation) -> None:
    operation["summary"] = "A payment's status"
    operation["description"] = (
        "The merchant's own payment, from the cache when it is there (X-Cache). Another "
        "merchant's payment, and an id that is not a UUID, are 404."
    )
    operation["responses"] = {
        "200": _response("The payment.", _ref("PaymentStatusView"), "X-Cache")
    }
    _set_errors(operation, "401", "404", "405", "503")


def _health(operation: Operation) -> None:
    operation["responses"] = {"200": _response("Alive.", _ref("Health"))}
    _set_errors(operation, "405", "503")


def _ready(operation: Operation) -> None:
    operation["responses"] = {
        "200": _response("Database and cache answer.", _ref("Readiness")),
    }
    _set_errors(operation, "405", "503")
    not_ready = operation["responses"]["503"]
    not_ready["description"] = (
        "Not ready: the Readiness body names the failing check; or Error when the request "
        "deadline passed first."
    )
    not_ready["content"] = _json({"anyOf": [_ref("Readiness"), _ref("Error")]})


def _secure(operation: Operation) -> None:
    """The /payments operations need an API key, whether or not FastAPI has seen the dependency."""
    security = operation.setdefault("security", [])
    if not any(SECURITY_SCHEME in requirement for requirement in security):
        security.append({SECURITY_SCHEME: []})


def _request_id_parameter(operation: Operation) -> None:
    parameters = operation.setdefault("parameters", [])
    if not any(p.get("name") == "X-Request-ID" for p in parameters):
        parameters.append(
            {
                "name": "X-Request-ID",
                "in": "header",
                "required": False,
                "description": "Propagated to the response and the logs when it matches.",
                "schema": {"type": "string"},
            }
        )


def complete(document: dict[str, Any], health_check_path: str = "/health") -> None:
    """Complete FastAPI's document in place; raises if an operation it must know is missing."""
    components = document.setdefault("components", {})
    _schemas(components.setdefault("schemas", {}))
    _headers(components.setdefault("headers", {}))
    components.setdefault("securitySchemes", {}).setdefault(
        SECURITY_SCHEME,
        {"type": "http", "scheme": "bearer", "description": "A merchant API key."},
    )
    handlers: dict[tuple[str, str], Callable[[Operation], None]] = {
        ("/payments", "post"): _create_payment,
        ("/payments/{payment_id}", "get"): _get_payment,
        ("/health", "get"): _health,
        (health_check_path, "get"): _health,
        ("/ready", "get"): _ready,
    }
    seen = set()
    for path, method, operation in _operations(document):
        _drop_fastapi_validation(operation)
        _request_id_parameter(operation)
        handler = handlers.get((path, method))
        if handler is None:
            raise ValueError(f"openapi.complete does not know {method.upper()} {path}")
        handler(operation)
        seen.add((path, method))
        if path == "/payments" or path.startswith("/payments/"):
            _secure(operation)
    missing = set(handlers) - seen
    if missing:
        raise ValueError(f"operations missing from the app: {sorted(missing)}")
    _link_status_read(document["paths"])
    _drop_unused_schemas(document)


def _link_status_read(paths: dict[str, Any]) -> None:
    """Link the 202 to the status read: clients and stateful test tools follow the payment id."""
    accepted = paths["/payments"]["post"]["responses"]["202"]
    accepted["links"] = {
        "GetPayment": {
            "operationId": paths["/payments/{payment_id}"]["get"]["operationId"],
            "parameters": {"payment_id": "$response.body#/id"},
            "description": "The status of the payment just accepted.",
        }
    }


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """FastAPI's validation-error schemas stay only while something still refers to them."""
    schemas = document["components"]["schemas"]
    for name in _FASTAPI_VALIDATION:
        text = json.dumps({k: v for k, v in document.items() if k != "components"})
        others = json.dumps({k: v for k, v in schemas.items() if k != name})
        if name in schemas and f'#/components/schemas/{name}"' not in text + others:
            del schemas[name]


def docs_settings() -> Settings:
    """Default settings with placeholders: enough to build the app's routes, nothing is opened."""
    return Settings(
        environment="docs",
        log_level="INFO",
        aws_region="us-east-1",
        payment_queue_url="",
        events_topic_arn="",
        transaction_log_bucket="",
        db_host="localhost",
        db_port=5432,
        db_name="payments",
        db_user="payment_app",
    )


def main(argv: list[str] | None = None) -> None:
    """Print the document of an app built with the default settings, or write it to a file."""
    parser = argparse.ArgumentParser(prog="python -m payment_app.api.openapi")
    parser.add_argument("--write", metavar="PATH", help="write the document here, not stdout")
    args = parser.parse_args(argv)
    from payment_app.api.app import create_app  # the app module imports this one

    text = render(create_app(docs_settings()).openapi())
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
