"""One-line JSON logs with a request id, so CloudWatch Logs Insights can query every field."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from payment_app.cardscan import contains_pan, redact

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

# LogRecord attributes that are plumbing, not user-supplied structured fields.
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# What a withheld line keeps: fields the service itself sets, never caller data.
_ENVELOPE = ("ts", "level", "logger", "service", "environment", "request_id")
_WITHHELD = "log line withheld: it showed card data"
_MAX_DEPTH = 8


def _mask(value: Any, depth: int = 0) -> Any:
    """Value with every string (keys too, nested) through redact; other objects by their text.

    Anything that is not JSON-native is rendered with str() by the formatter, so it is masked as
    that text; a number that shows a PAN becomes the redacted string.
    """
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):  # json writes repr(): 4111111111111111.0 shows a PAN
        return value if not contains_pan(repr(value)) else redact(repr(value))
    if depth >= _MAX_DEPTH:
        return redact(str(value))
    if isinstance(value, dict):
        return {_mask_key(k): _mask(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_mask(item, depth + 1) for item in value]
    text = str(value)
    masked = redact(text)
    return value if masked is text else masked


def _mask_key(key: Any) -> Any:
    """Keys are masked like values (a PAN used as a key is still a PAN)."""
    return redact(key) if isinstance(key, str) else _mask(key)


class CardDataFilter(logging.Filter):
    """The last line of defence: no PAN, in any spelling, reaches a log line.

    Installed on the handler (a logger's filter would miss records propagated from children),
    it rewrites the record in place: the message is rendered and redacted (args dropped), and
    every structured field, names included, goes through redact.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Always True: records are masked, never dropped."""
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        for key, value in list(record.__dict__.items()):
            if key in _RESERVED or key.startswith("_"):
                continue
            shown = redact(key)
            masked = _mask(value)
            if shown is not key:
                delattr(record, key)
            if shown is not key or masked is not value:
                setattr(record, shown, masked)
        return True


class JsonFormatter(logging.Formatter):
    """Render records as JSON; callers pass structured fields via ``extra=``."""

    def __init__(self, service: str, environment: str) -> None:
        super().__init__()
        self._static = {"service": service, "environment": environment}

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object per record; ``extra=`` fields become top-level keys.

        Values are masked here too (not only by CardDataFilter): a handler someone adds without
        the filter still writes no PAN. Masking twice is a no-op.
        """
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            **self._static,
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = redact(request_id)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[redact(key)] = _mask(value)
        if record.exc_info and record.exc_info[0] is not None:
            # Only the exception type: messages of driver errors can echo parameters.
            entry["exc_type"] = record.exc_info[0].__name__
        line = json.dumps(entry, default=str, separators=(",", ":"))
        if contains_pan(line):
            # Digits joined across values (a list of numbers, digit-only keys): no one value
            # held a PAN, the line shows one. Withhold it rather than cut the JSON apart.
            return json.dumps(
                {**{k: entry[k] for k in _ENVELOPE if k in entry}, "message": _WITHHELD},
                separators=(",", ":"),
            )
        return line


def configure_logging(level: str, service: str, environment: str) -> None:
    """Route the root logger (and uvicorn's) to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service, environment))
    handler.addFilter(CardDataFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Our own middleware writes access lines without query strings or bodies.
    logging.getLogger("uvicorn.access").disabled = True
    for noisy in ("botocore", "boto3", "urllib3", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
