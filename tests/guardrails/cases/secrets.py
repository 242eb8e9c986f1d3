"""Secret cases: the customer key and rotation."""

from __future__ import annotations

from guardrails.facts import SECRET
from resource_graph import Graph
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, KEY_ARN, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


SECRET_ARN = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:payment-db-app-dev-AbCdEf"


@case("secrets", "secret on the AWS key", "SecretsManager.1", "app-secret")
def _(ok: bool) -> Graph:
    secret = res(
        SECRET,
        "app-secret",
        id=SECRET_ARN,
        arn=SECRET_ARN,
        kmsKeyId=KEY_ARN if ok else None,
    )
    rotation = res(
        "aws:secretsmanager/secretRotation:SecretRotation",
        "rotation",
        secretId=SECRET_ARN,
        rotationRules={"automaticallyAfterDays": 30},
    )
    return graph(key(), secret, rotation)


@case("secrets", "secret never rotates", "SecretsManager.4", "app-secret")
def _(ok: bool) -> Graph:
    secret = res(
        SECRET,
        "app-secret",
        id=SECRET_ARN,
        arn=SECRET_ARN,
        kmsKeyId=KEY_ARN,
    )
    rotation = res(
        "aws:secretsmanager/secretRotation:SecretRotation", "rotation", secretId=SECRET_ARN
    )
    return graph(key(), secret, *([rotation] if ok else []))
