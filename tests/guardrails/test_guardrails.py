"""Guardrails: every environment is clean, every rule bites, every waiver is needed and narrow."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import guardrails
from guardrails import RULES, WAIVERS, evaluate
from guardrails.facts import HIGH_AVAILABILITY, INGRESS_RULE, PRODUCTION, SECRET
from guardrails.rules.network import ADMIN_PORTS
from guardrails.waivers import split
from resource_graph import Graph, Resource
from tests.conftest import ENVIRONMENTS, environment_graph
from tests.guardrails.cases import CASES, Case
from tests.guardrails.cases.edge import alb
from tests.guardrails.cases.network import security_group
from tests.guardrails.synth import ACCOUNT, KEY_ARN, bucket, graph, key, res

RULE_BY_ID = {r.id: r for r in RULES}


def _listing(violations: list[guardrails.Violation]) -> str:
    return "\n".join(f"  {v}" for v in violations)


def test_environment_meets_every_guardrail(graph: Graph) -> None:
    violations = evaluate(graph)
    assert not violations, f"{graph.env}: {len(violations)} violation(s)\n{_listing(violations)}"


def test_rule_ids_are_unique_and_cite_controls() -> None:
    assert len(RULE_BY_ID) == len(RULES)
    assert all(r.controls and r.title for r in RULES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.label}")
def test_rule_passes_the_good_graph(case: Case) -> None:
    found = RULE_BY_ID[case.rule].check(case.good())
    assert found == [], _listing(found)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.rule}:{c.label}")
def test_rule_fails_the_bad_graph(case: Case) -> None:
    found = RULE_BY_ID[case.rule].check(case.bad())
    hits = [v for v in found if case.control in v.controls and f" {case.resource}" in v.resource]
    assert hits, f"expected {case.control} on {case.resource}; got\n{_listing(found)}"
    assert all(v.rule == case.rule and v.reason for v in hits)
    assert all(set(v.controls) <= set(RULE_BY_ID[case.rule].controls) for v in found)


def test_every_rule_has_a_failing_case() -> None:
    assert {r.id for r in RULES} - {c.rule for c in CASES} == set()


def test_every_waiver_is_used_by_some_environment() -> None:
    used: set[str] = set()
    for env in ENVIRONMENTS:
        g = environment_graph(env)
        _, absorbed = split(g, guardrails.check(g))
        used |= {waiver for waiver, hits in absorbed.items() if hits}
    stale = {w.id for w in WAIVERS} - used
    assert not stale, f"waivers no environment needs any more: {sorted(stale)}"


def test_waivers_cite_existing_rules_and_controls() -> None:
    for w in WAIVERS:
        assert w.reason and set(w.controls) <= set(RULE_BY_ID[w.rule].controls), w.id


# ------------------------------------------- production rules follow data, not the env's name

PRODUCTION_RULES = ("high-availability", "database-resilience")
HA = {"DESIGN high availability", "RDS.15", "ElastiCache.3"}
STRICT = HA | {"RDS.11"}  # a day of backups is not enough for real payments


def _relabelled(env: str, outputs: dict[str, Any]) -> Graph:
    """The dev graph (one instance, one node, a day of backups) as another environment."""
    dev = environment_graph("dev")
    kept = {k: v for k, v in dev.outputs.items() if k not in (PRODUCTION, HIGH_AVAILABILITY)}
    return dataclasses.replace(dev, env=env, outputs=kept | outputs)


@pytest.mark.parametrize(
    ("env", "outputs", "expected"),
    [
        ("prod-eu", {PRODUCTION: True, HIGH_AVAILABILITY: True}, STRICT),
        ("prod", {PRODUCTION: False, HIGH_AVAILABILITY: False}, set()),
        ("perf", {PRODUCTION: False, HIGH_AVAILABILITY: True}, HA),
        ("prod-eu", {PRODUCTION: True, HIGH_AVAILABILITY: False}, STRICT),  # production needs HA
        ("dev", {PRODUCTION: None, HIGH_AVAILABILITY: None}, STRICT),  # unknown at preview
        ("dev", {}, STRICT),  # not exported: the class cannot be read
    ],
    ids=["prod-eu-true", "prod-false", "ha-only", "production-only", "unknown", "missing"],
)
def test_production_rules_follow_the_exported_flags(
    env: str, outputs: dict[str, Any], expected: set[str]
) -> None:
    found = [v for v in evaluate(_relabelled(env, outputs)) if v.rule in PRODUCTION_RULES]
    assert {c for v in found for c in v.controls} == expected, _listing(found)


# ----------------------------------------------------------- waivers stay narrow (synthetic)


def _open(port: int, group: str) -> Resource:
    return res(
        INGRESS_RULE,
        f"{group}-{port}",
        securityGroupId=f"sg-{group}",
        ipProtocol="tcp",
        fromPort=port,
        toPort=port,
        cidrIpv4="0.0.0.0/0",
        description="x",
    )


def test_alb_https_from_the_internet_is_waived() -> None:
    g = graph(alb(), security_group("alb"), _open(443, "alb"), _open(80, "alb"))
    assert [v for v in evaluate(g) if v.rule == "network-ingress"] == []


@pytest.mark.parametrize(("port", "group"), [(22, "alb"), (443, "api"), (8080, "alb")])
def test_other_internet_ingress_is_not_waived(port: int, group: str) -> None:
    g = graph(alb(), security_group("alb"), security_group("api"), _open(port, group))
    found = [v for v in evaluate(g) if v.rule == "network-ingress"]
    assert found and all(f"{group}-{port}" in v.resource for v in found)


@pytest.mark.parametrize(
    ("protocol", "low", "high", "admin"),
    [
        ("tcp", 0, 443, [20, 21, 22, 23]),  # the range, not fromPort, decides
        ("tcp", 443, 3389, [3389]),
        ("6", 0, 65535, list(ADMIN_PORTS)),
        ("-1", 0, 0, list(ADMIN_PORTS)),  # all protocols: every port
    ],
)
def test_internet_port_range_over_admin_ports_is_reported(
    protocol: str, low: int, high: int, admin: list[int]
) -> None:
    wide = res(
        INGRESS_RULE,
        "alb-wide",
        securityGroupId="sg-alb",
        ipProtocol=protocol,
        fromPort=low,
        toPort=high,
        cidrIpv4="0.0.0.0/0",
        description="x",
    )
    found = [
        v
        for v in evaluate(graph(alb(), security_group("alb"), wide))
        if v.rule == "network-ingress"
    ]
    assert any(f"reaches admin port(s) {admin}" in v.reason for v in found), _listing(found)
    assert any("open to 0.0.0.0/0" in v.reason for v in found), "the ALB waiver is 443/80 only"


def test_sse_s3_is_waived_only_for_log_buckets() -> None:
    access = bucket("access-logs", "access-logs", sse="AES256")
    alb_logs = bucket("alb-logs", "alb-logs", sse="AES256")
    data = bucket("data", "transaction-logs", sse="AES256", logging_target=access[0].id)
    lb = alb(accessLogs={"bucket": alb_logs[0].id, "enabled": True})
    found = [
        v for v in evaluate(graph(key(), lb, *access, *alb_logs, *data)) if "S3.17" in v.controls
    ]
    assert [v.resource for v in found] == ["aws:s3/bucket:Bucket data"]


def test_rotation_is_waived_only_for_the_idempotency_secret() -> None:
    def secret(logical: str, name: str) -> Resource:
        arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}-AbCdEf"
        return res(SECRET, logical, arn=arn, name=name, kmsKeyId=KEY_ARN)

    idempotency = secret("idempotency", "payment-idempotency-dev")
    # Another stack's idempotency secret, or this stack's under another name: still reported.
    other_stack = secret("copied", "payment-idempotency-staging")
    other = secret("app-secret", "payment-db-credentials-dev")
    found = [
        v
        for v in evaluate(graph(key(), idempotency, other_stack, other))
        if "SecretsManager.4" in v.controls
    ]
    assert sorted(v.resource for v in found) == [
        f"{SECRET} app-secret",
        f"{SECRET} copied",
    ]


def test_unencrypted_log_bucket_is_not_waived() -> None:
    access = [
        r for r in bucket("access-logs", "access-logs") if "ServerSideEncryption" not in r.type
    ]
    data = bucket("data", "transaction-logs", logging_target=access[0].id)
    found = [v for v in evaluate(graph(key(), *access, *data)) if "S3.17" in v.controls]
    assert [v.resource for v in found] == ["aws:s3/bucket:Bucket access-logs"]


def test_public_route_waived_only_for_alb_subnets() -> None:
    def routed(subnet: str) -> Graph:
        return graph(
            alb(subnets=["subnet-pa", "subnet-pb"]),
            res("aws:ec2/routeTable:RouteTable", "rt", id="rtb-1"),
            res(
                "aws:ec2/routeTableAssociation:RouteTableAssociation",
                "rta",
                routeTableId="rtb-1",
                subnetId=subnet,
            ),
            res(
                "aws:ec2/route:Route",
                "default",
                routeTableId="rtb-1",
                destinationCidrBlock="0.0.0.0/0",
                gatewayId="igw-1",
            ),
        )

    assert [v for v in evaluate(routed("subnet-pa")) if v.rule == "no-internet-route"] == []
    assert [v for v in evaluate(routed("subnet-private")) if v.rule == "no-internet-route"]


def test_violation_message_names_resource_reason_and_controls() -> None:
    g = graph(res("aws:sqs/queue:Queue", "orders", name="orders"))
    text = [str(v) for v in evaluate(g) if v.rule == "physical-names"]
    assert text and "aws:sqs/queue:Queue orders" in text[0] and "DESIGN naming" in text[0]


def test_account_constant_matches_mocks() -> None:
    from offline.mocks import ACCOUNT_ID

    assert ACCOUNT == ACCOUNT_ID


def test_more_aurora_readers_than_azs_still_meet_high_availability() -> None:
    # A valid profile edit (prod with a reader per AZ and one more): a reader beside the writer
    # is fine as long as another reader is in a different AZ to fail over to.
    from offline.recorder import record

    prod = environment_graph("prod")
    readers = len(prod.of_type("aws:rds/clusterInstance:ClusterInstance"))  # writer + readers
    grown = record("prod", overrides={"payment:database": {"reader_count": readers}})
    assert [v for v in evaluate(grown) if v.rule == "high-availability"] == []
