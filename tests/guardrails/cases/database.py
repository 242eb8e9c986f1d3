"""Database cases: Aurora encryption, query logging, admin name, backups, HA reader, credentials."""

from __future__ import annotations

from typing import Any

from guardrails.facts import CLUSTER, INSTANCE
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import KEY_ARN, graph, key, res

CASES: list[Case] = []
case = registrar(CASES)


def aurora(
    env_instances: int = 1,
    params: dict[str, str] | None = None,
    *,
    protect: bool = False,
    **overrides: Any,
) -> list[Resource]:
    """A cluster, its parameter group and instances; `protect` puts Pulumi's protect on the
    cluster and instances (what `protect_data` does)."""
    inputs: dict[str, Any] = {
        "clusterIdentifier": "payment-db-dev",
        "engine": "aurora-postgresql",
        "storageEncrypted": True,
        "kmsKeyId": KEY_ARN,
        "iamDatabaseAuthenticationEnabled": True,
        "enabledCloudwatchLogsExports": ["postgresql"],
        "backupRetentionPeriod": 7,
        "copyTagsToSnapshot": True,
        "masterUsername": "payments_admin",
        "manageMasterUserPassword": True,
        "masterUserSecretKmsKeyId": KEY_ARN,
        "dbClusterParameterGroupName": "payment-db-params-dev",
        "skipFinalSnapshot": True,
    }
    inputs.update(overrides)
    parameters = (
        params
        if params is not None
        else {"rds.force_ssl": "1", "log_min_duration_statement": "1000"}
    )
    out = [
        key(),
        res(CLUSTER, "db", id="payment-db-dev", protect=protect, **inputs),
        res(
            "aws:rds/clusterParameterGroup:ClusterParameterGroup",
            "db-params",
            id="payment-db-params-dev",
            name="payment-db-params-dev",
            parameters=[{"name": k, "value": v} for k, v in parameters.items()],
        ),
    ]
    for i in range(env_instances):
        out.append(
            res(
                INSTANCE,
                f"db-{i}",
                clusterIdentifier="payment-db-dev",
                publiclyAccessible=False,
                availabilityZone=f"us-east-1{'abc'[i % 3]}",
                protect=protect,
            )
        )
    return out


@case("database-protection", "storage unencrypted", "RDS.27", "db")
def _(ok: bool) -> Graph:
    return graph(*aurora(storageEncrypted=ok))


@case("database-protection", "no query logging", "RDS.37", "db")
def _(ok: bool) -> Graph:
    params = {"rds.force_ssl": "1", "log_statement": "ddl" if ok else "none"}
    return graph(*aurora(params=params))


@case("database-resilience", "default admin name", "RDS.24", "db")
def _(ok: bool) -> Graph:
    return graph(*aurora(masterUsername="payments_admin" if ok else "postgres"))


@case("database-resilience", "HA with a single instance", "RDS.15", "db")
def _(ok: bool) -> Graph:
    return graph(*aurora(env_instances=2 if ok else 1), high_availability=True)


@case("database-resilience", "production with a day of backups", "RDS.11", "db")
def _(ok: bool) -> Graph:
    instances = aurora(env_instances=2, backupRetentionPeriod=7 if ok else 1)
    return graph(*instances, production=True, high_availability=True)


@case("database-credentials", "password in the program", "RDS.6", "db")
def _(ok: bool) -> Graph:
    extra: dict[str, Any] = {} if ok else {"manageMasterUserPassword": False, "masterPassword": "x"}
    return graph(*aurora(**extra))
