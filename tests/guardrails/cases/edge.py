"""Edge cases: the load balancer's headers, access logs and AZs, its listeners, its WAF."""

from __future__ import annotations

from typing import Any

from guardrails.facts import LOAD_BALANCER
from resource_graph import Graph, Resource
from tests.guardrails.cases.base import Case, registrar
from tests.guardrails.synth import ACCOUNT, graph, res

CASES: list[Case] = []
case = registrar(CASES)


LB_ARN = f"arn:aws:elasticloadbalancing:us-east-1:{ACCOUNT}:loadbalancer/app/payment-alb-dev/abc"


def alb(**overrides: Any) -> Resource:
    inputs: dict[str, Any] = {
        "name": "payment-alb-dev",
        "loadBalancerType": "application",
        "subnets": ["subnet-a", "subnet-b"],
        "securityGroups": ["sg-alb"],
        "dropInvalidHeaderFields": True,
        "desyncMitigationMode": "defensive",
        "accessLogs": {"bucket": f"payment-alb-logs-dev-{ACCOUNT}", "enabled": True},
    }
    inputs.update(overrides)
    return res(LOAD_BALANCER, "alb", id=LB_ARN, arn=LB_ARN, **inputs)


@case("edge-alb-headers", "invalid headers passed", "ELB.4", "alb")
def _(ok: bool) -> Graph:
    return graph(alb(dropInvalidHeaderFields=ok))


@case("edge-alb-headers", "desync monitor mode", "ELB.12", "alb")
def _(ok: bool) -> Graph:
    return graph(alb(desyncMitigationMode="strictest" if ok else "monitor"))


@case("edge-alb-access-logs", "access logs off", "ELB.5", "alb")
def _(ok: bool) -> Graph:
    return graph(alb(accessLogs={"bucket": "b", "enabled": ok}))


@case("edge-alb-multi-az", "one subnet", "ELB.13", "alb")
def _(ok: bool) -> Graph:
    return graph(alb(subnets=["subnet-a", "subnet-b"] if ok else ["subnet-a"]))


LISTENER = "aws:lb/listener:Listener"


def _https(policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06") -> Resource:
    return res(
        LISTENER,
        "https",
        loadBalancerArn=LB_ARN,
        protocol="HTTPS",
        port=443,
        sslPolicy=policy,
        certificateArn=f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/abc",
        defaultActions=[{"type": "forward", "targetGroupArn": "tg"}],
    )


@case("edge-listeners", "HTTP listener forwards", "ELB.1", "http")
def _(ok: bool) -> Graph:
    action = (
        {
            "type": "redirect",
            "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
        }
        if ok
        else {"type": "forward", "targetGroupArn": "tg"}
    )
    http = res(
        LISTENER, "http", loadBalancerArn=LB_ARN, protocol="HTTP", port=80, defaultActions=[action]
    )
    return graph(alb(), _https(), http)


@case("edge-listeners", "TLS 1.0 policy", "ELB.17", "https")
def _(ok: bool) -> Graph:
    return graph(
        alb(), _https("ELBSecurityPolicy-TLS13-1-2-2021-06" if ok else "ELBSecurityPolicy-2016-08")
    )


ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:regional/webacl/payment-waf-dev/abc"
VISIBLE = {"cloudwatchMetricsEnabled": True, "sampledRequestsEnabled": True, "metricName": "m"}


def _managed(group: str) -> dict[str, Any]:
    return {
        "name": group,
        "statement": {"managedRuleGroupStatement": {"name": group, "vendorName": "AWS"}},
        "overrideAction": {"none": {}},
        "visibilityConfig": VISIBLE,
    }


def _rate(name: str, statement: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "statement": {"rateBasedStatement": {"limit": 2000, **statement}},
        "visibilityConfig": VISIBLE,
    }


def _header_key(name: str) -> dict[str, Any]:
    return {"header": {"name": name, "textTransformations": [{"priority": 0, "type": "NONE"}]}}


PER_IP = _rate("per-ip", {"aggregateKeyType": "IP"})
PER_API_KEY = _rate(
    "per-api-key", {"aggregateKeyType": "CUSTOM_KEYS", "customKeys": [_header_key("authorization")]}
)


def _waf(
    rate: bool = True,
    logging: bool = True,
    known_bad_inputs: bool = True,
    rate_rules: tuple[dict[str, Any], ...] = (PER_IP, PER_API_KEY),
) -> list[Resource]:
    rules: list[dict[str, Any]] = [_managed("AWSManagedRulesCommonRuleSet")]
    if known_bad_inputs:
        rules.append(_managed("AWSManagedRulesKnownBadInputsRuleSet"))
    if rate:
        rules.extend(rate_rules)
    out = [
        res("aws:wafv2/webAcl:WebAcl", "waf", arn=ACL_ARN, rules=rules, visibilityConfig=VISIBLE),
        res(
            "aws:wafv2/webAclAssociation:WebAclAssociation",
            "waf-assoc",
            resourceArn=LB_ARN,
            webAclArn=ACL_ARN,
        ),
    ]
    if logging:
        out.append(
            res(
                "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
                "waf-logging",
                resourceArn=ACL_ARN,
                logDestinationConfigs=["arn:aws:logs:...:log-group:aws-waf-logs-x"],
            )
        )
    return out


@case("edge-waf", "no rate-based rule", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    return graph(alb(), *_waf(rate=ok))


@case("edge-waf", "no known-bad-inputs rule group (Log4j)", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    return graph(alb(), *_waf(known_bad_inputs=ok))


@case("edge-waf", "no WAF logging", "WAF.11", "waf")
def _(ok: bool) -> Graph:
    return graph(alb(), *_waf(logging=ok))


@case("edge-waf", "ALB without web ACL", "ELB.16", "alb")
def _(ok: bool) -> Graph:
    return graph(alb(), *(_waf() if ok else _waf()[:1]))


@case("edge-waf", "no rate limit per API key", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    return graph(alb(), *_waf(rate_rules=(PER_IP, PER_API_KEY) if ok else (PER_IP,)))


@case("edge-waf", "API-key rule on another header", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    other = _rate(
        "per-api-key",
        {"aggregateKeyType": "CUSTOM_KEYS", "customKeys": [_header_key("x-api-key")]},
    )
    return graph(alb(), *_waf(rate_rules=(PER_IP, PER_API_KEY if ok else other)))


@case("edge-waf", "API key split by IP (two aggregation keys)", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    split = _rate(
        "per-api-key",
        {
            "aggregateKeyType": "CUSTOM_KEYS",
            "customKeys": [_header_key("authorization"), {"ip": {}}],
        },
    )
    return graph(alb(), *_waf(rate_rules=(PER_IP, PER_API_KEY if ok else split)))


@case("edge-waf", "no rate limit per client IP", "WAF.10", "waf")
def _(ok: bool) -> Graph:
    return graph(alb(), *_waf(rate_rules=(PER_IP, PER_API_KEY) if ok else (PER_API_KEY,)))
