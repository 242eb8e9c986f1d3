"""Storage cases: bucket versioning, SSE-KMS, access logs, public access blocks."""

from __future__ import annotations

from resource_graph import Graph
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import bucket, graph, key

CASES: list[Case] = []
case = registrar(CASES)


@case("storage-buckets", "versioning off", "S3.14", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(), *bucket("transaction-logs", "transaction-logs", versioning=ok, logging_target="x")
    )


@case("storage-buckets", "SSE-S3 on a data bucket", "S3.17", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(),
        *bucket(
            "transaction-logs",
            "transaction-logs",
            sse="aws:kms" if ok else "AES256",
            logging_target="x",
        ),
    )


@case("storage-buckets", "transaction data without access logs", "S3.9", "transaction-logs")
def _(ok: bool) -> Graph:
    return graph(
        key(), *bucket("transaction-logs", "transaction-logs", logging_target="x" if ok else None)
    )


@case("storage-buckets", "public access block missing", "S3.8", "transaction-logs")
def _(ok: bool) -> Graph:
    resources = bucket("transaction-logs", "transaction-logs", logging_target="x")
    if not ok:
        resources = [r for r in resources if "PublicAccessBlock" not in r.type]
    return graph(key(), *resources)
