"""No card number reaches a log line or a response header, wherever a client puts it."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from payment_app.cardscan import REDACTED, contains_pan
from payment_app.logs import CardDataFilter, JsonFormatter, configure_logging

PAN = "4111111111111111"
FULLWIDTH_PAN = "".join(chr(0xFF10 + int(d)) for d in PAN)
GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def new_key() -> str:
    """An idempotency key without digits (a random digit run must not look like a PAN)."""
    return "idem-" + uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


def strings_in(value: Any) -> Iterator[str]:
    """Every string of decoded JSON, keys included, so a PAN is looked for after unescaping."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif value is not None:
        yield str(value)


def assert_no_pan(lines: list[str]) -> list[dict[str, Any]]:
    """Each line is JSON and shows no PAN, neither as written nor once its escapes are decoded
    (JSON writes U+FF14 as \\uff14, which no digit scan of the raw line would see)."""
    records = []
    for line in lines:
        assert not contains_pan(line), line
        record = json.loads(line)
        for text in strings_in(record):
            assert not contains_pan(text), line
        records.append(record)
    return records


def written(buffer: io.StringIO) -> list[str]:
    return buffer.getvalue().splitlines()


@pytest.fixture
def stream(kit: Any) -> Iterator[io.StringIO]:
    """The production formatter and filter on the root logger, written to a buffer."""
    with kit.captured_logs(card_filter=True) as buffer:
        yield buffer


def assert_headers_clean(response: httpx.Response) -> None:
    for name, value in response.headers.items():
        assert not contains_pan(name) and not contains_pan(value), (name, value)


def assert_refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "card_data_rejected"
    assert error["details"] == [{"field": field, "error": "card_number"}]
    assert not contains_pan(response.text)
    assert_headers_clean(response)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_id",
    [PAN, "4111-1111-1111-1111", "4111.1111.1111.1111", "req_4111_1111_1111_1111", FULLWIDTH_PAN],
)
async def test_pan_in_request_id_is_replaced(
    client: httpx.AsyncClient, stream: io.StringIO, request_id: str
) -> None:
    # httpx sends str headers as ASCII; a non-ASCII id goes as its UTF-8 bytes, as a client could.
    response = await client.get(
        f"/payments/{uuid.uuid4()}", headers={b"X-Request-ID": request_id.encode()}
    )
    assert response.status_code == 404, response.text
    assert_headers_clean(response)
    replaced = response.headers["x-request-id"]
    assert replaced != request_id and GENERATED_ID.match(replaced)
    records = assert_no_pan(written(stream))
    access = [r for r in records if r["message"] == "request"]
    assert access and all(r["request_id"] == replaced for r in access)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_id", ["0f6c8f4e-3a1b-4c2d-9e8f-7a6b5c4d3e2f", "req-abc12345", "web.01_AZ-9"]
)
async def test_safe_request_id_is_kept(client: httpx.AsyncClient, request_id: str) -> None:
    """The strict check must not throw away the ids clients really send."""
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "request_id", ["short", "x" * 65, "Root=1-67891233-abcdef012345678912345678", "a b c d e f"]
)
async def test_unsafe_request_id_is_replaced(client: httpx.AsyncClient, request_id: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": request_id})
    assert GENERATED_ID.match(response.headers["x-request-id"])


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("url", "location"),
    [
        (f"/payments/{PAN}", "path"),
        ("/payments/4111-1111-1111-1111", "path"),
        ("/payments/4111%201111%201111%201111", "path"),
        ("/payments/%EF%BC%94%EF%BC%91%EF%BC%91%EF%BC%91" + "1" * 12, "path"),  # fullwidth 4111
        (f"/no/such/route/{PAN}", "path"),
        (f"/payments?card={PAN}", "query"),
        ("/payments?card=4111+1111+1111+1111", "query"),
        ("/health?x=4111%2B1111%2B1111%2B1111", "query"),
        ("/health?x=4111%25201111%25201111%25201111", "query"),  # encoded twice
    ],
)
async def test_pan_in_url_is_refused_before_the_app(
    client: httpx.AsyncClient, stream: io.StringIO, url: str, location: str
) -> None:
    response = await client.get(url)
    assert_refused(response, location)
    records = assert_no_pan(written(stream))
    rejected = [r for r in records if r["message"] == "card data rejected"]
    assert [r["location"] for r in rejected] == [location]
    access = [r for r in records if r["message"] == "request"]
    assert [r["status"] for r in access] == [422]
    if location == "path":
        assert REDACTED in access[0]["path"]
    # The app never ran: nothing of the service but the middleware logged for this request.
    service = {r["logger"] for r in records if r["logger"].startswith("payment_app")}
    assert service == {"payment_app.access"}


@pytest.mark.asyncio
async def test_post_with_pan_in_url_is_refused_before_the_body_is_read(
    client: httpx.AsyncClient, stream: io.StringIO, payment_body: dict[str, Any]
) -> None:
    response = await client.post(
        f"/payments?ref={PAN}", json=payment_body, headers={"Idempotency-Key": new_key()}
    )
    assert_refused(response, "query")
    assert_no_pan(written(stream))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("variant", "field"),
    [
        ({PAN: "x"}, "body.<key>"),
        ({"metadata": {"4111 1111 1111 1111": "x"}}, "body.metadata.<key>"),
        ({FULLWIDTH_PAN: 1}, "body.<key>"),
        ({"description": f"card {PAN}"}, "body.description"),
        ({"description": "card 4111\u200b1111\u200b1111\u200b1111"}, "body.description"),
        ({"card": int(PAN)}, "body.card"),
    ],
)
async def test_pan_in_body_key_or_value_is_refused_and_never_logged(
    client: httpx.AsyncClient,
    stream: io.StringIO,
    payment_body: dict[str, Any],
    variant: dict[str, Any],
    field: str,
) -> None:
    response = await client.post(
        "/payments",
        json={**payment_body, **variant},
        headers={"Idempotency-Key": new_key()},
    )
    assert_refused(response, field)
    records = assert_no_pan(written(stream))
    rejected = [r for r in records if r["message"] == "card data rejected"]
    assert [r["field"] for r in rejected] == [field]


# The filter on its own: whatever a developer logs.


class Shows:
    """An object the formatter can only render with str()."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


@pytest.fixture
def filtered() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose only handler is the production formatter plus the filter."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("payment-api", "test"))
    handler.addFilter(CardDataFilter())
    logger = logging.getLogger(f"test.card_data.{uuid.uuid4().hex}")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield logger, buffer
    logger.removeHandler(handler)


def test_filter_masks_message_fields_nested_values_and_keys(
    filtered: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = filtered
    logger.info("paid with %s", "4111 1111 1111 1111")
    logger.info(f"card {FULLWIDTH_PAN}")
    logger.warning(
        "details",
        extra={
            "card": PAN,
            "number": int(PAN),
            "amount": 1250,
            "nested": {"list": [{"deep": "x-5500-0000-0000-0004-y"}], PAN: "as a key"},
            "obj": Shows(f"card {PAN}"),  # rendered by str(): masked as that text
        },
    )
    records = assert_no_pan(buffer.getvalue().splitlines())
    assert records[0]["message"] == f"paid with {REDACTED}"
    assert records[1]["message"] == f"card {REDACTED}"
    assert records[2]["card"] == REDACTED and records[2]["number"] == REDACTED
    assert records[2]["amount"] == 1250
    assert records[2]["nested"]["list"][0]["deep"] == f"x-{REDACTED}-y"
    assert records[2]["nested"][REDACTED] == "as a key"
    assert records[2]["obj"] == f"card {REDACTED}"


def test_digits_split_across_fields_withhold_the_line(
    filtered: tuple[logging.Logger, io.StringIO],
) -> None:
    """No single value holds the PAN, the rendered line does: it is withheld, not cut."""
    logger, buffer = filtered
    logger.info("groups", extra={"groups": [4111, 1111, 1111, 1111]})
    (record,) = assert_no_pan(buffer.getvalue().splitlines())
    assert record["message"] == "log line withheld: it showed card data"
    assert "groups" not in record


def test_exception_messages_stay_out(filtered: tuple[logging.Logger, io.StringIO]) -> None:
    logger, buffer = filtered
    try:
        raise ValueError(f"bad card {PAN}")
    except ValueError:
        logger.exception("failed")
    (record,) = assert_no_pan(buffer.getvalue().splitlines())
    assert record["exc_type"] == "ValueError"


def test_configure_logging_installs_the_filter(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    touched = [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    touched += [logging.getLogger(n) for n in ("botocore", "boto3", "urllib3", "aiobotocore")]
    saved = [(lg, lg.handlers[:], lg.propagate, lg.disabled, lg.level) for lg in touched]
    try:
        configure_logging("INFO", "payment-api", "test")
        assert any(isinstance(f, CardDataFilter) for h in root.handlers for f in h.filters)
        logging.getLogger("payment_app.somewhere").info("card %s", PAN, extra={"pan": PAN})
        for handler in root.handlers:
            handler.flush()
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for lg, handlers, propagate, disabled, level in saved:
            lg.handlers[:], lg.propagate, lg.disabled = handlers, propagate, disabled
            lg.setLevel(level)
    out = capsys.readouterr().out.splitlines()
    (record,) = assert_no_pan(out)
    assert record["message"] == f"card {REDACTED}" and record["pan"] == REDACTED
