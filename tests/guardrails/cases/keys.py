"""Key cases: rotation and public key policies."""

from __future__ import annotations

from guardrails.facts import KMS_KEY
from resource_graph import Graph
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, doc, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


@case("keys", "rotation off", "KMS.4", "data-key")
def _(ok: bool) -> Graph:
    return graph(key(rotation=ok))


@case("keys", "key policy open to anyone", "KMS.5", "data-key")
def _(ok: bool) -> Graph:
    principal = {"AWS": f"arn:aws:iam::{ACCOUNT}:root"} if ok else "*"
    k = res(
        KMS_KEY,
        "data-key",
        enableKeyRotation=True,
        policy=doc(
            {"Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt", "Resource": "*"}
        ),
    )
    return graph(k)
