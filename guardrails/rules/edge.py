"""Edge rules: the internet-facing application load balancer, its listeners and its WAF.

- `edge-alb-headers`: invalid headers dropped; desync mitigation defensive or strictest.
- `edge-alb-access-logs`: access logs on.
- `edge-alb-multi-az`: the ALB spans two AZs or more.
- `edge-listeners`: HTTPS with an ACM certificate and a TLS 1.3/1.2 policy; HTTP only redirects.
- `edge-waf`: a web ACL with managed rules, a rate limit per client IP and one per API key (the
  Authorization header), metrics and logging on every ALB.
"""

from __future__ import annotations

from typing import Any

from guardrails import facts
from guardrails.facts import as_list, load_balancers, parse_json, ref
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, rule
from resource_graph import Graph, Resource


@rule(
    "edge-alb-headers",
    "ALB drops invalid headers; desync mitigation defensive or strictest",
    "ELB.4",
    "ELB.12",
)
def alb_headers(graph: Graph) -> list[Violation]:
    """Malformed or ambiguous requests must not reach the service (request smuggling)."""
    f = Findings("edge-alb-headers")
    for lb in load_balancers(graph):
        f.require(
            is_true(lb.get("dropInvalidHeaderFields")),
            lb,
            "does not drop invalid header fields",
            "ELB.4",
        )
        f.require(
            lb.get("desyncMitigationMode") in (None, "defensive", "strictest"),
            lb,
            f"desync mitigation is {lb.get('desyncMitigationMode')}",
            "ELB.12",
        )
    return f.items


@rule("edge-alb-access-logs", "ALB access logs enabled", "ELB.5")
def alb_access_logs(graph: Graph) -> list[Violation]:
    """Every request from the internet leaves a record."""
    f = Findings("edge-alb-access-logs")
    for lb in load_balancers(graph):
        logs = lb.get("accessLogs") or {}
        f.require(
            is_true(logs.get("enabled")) and bool(logs.get("bucket")),
            lb,
            "access logs are off",
            "ELB.5",
        )
    return f.items


@rule("edge-alb-multi-az", "ALB spans at least two AZs", "ELB.13")
def alb_multi_az(graph: Graph) -> list[Violation]:
    """The entry point survives the loss of one Availability Zone."""
    f = Findings("edge-alb-multi-az")
    for lb in load_balancers(graph):
        subnets = as_list(lb.get("subnets")) + as_list(lb.get("subnetMappings"))
        f.require(
            len(subnets) >= 2, lb, f"spans {len(subnets)} subnet(s); needs 2 AZs or more", "ELB.13"
        )
    return f.items


TLS_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
)
LISTENER = "aws:lb/listener:Listener"
LISTENER_CONTROLS = ("ELB.1", "ELB.17", "ELB.18", "PCI DSS 4.2.1")


def _redirects_to_https(actions: Any) -> bool:
    actions = as_list(actions)
    return bool(actions) and all(
        a.get("type") == "redirect" and (a.get("redirect") or {}).get("protocol") == "HTTPS"
        for a in actions
    )


def _https_listener(f: Findings, graph: Graph, li: Resource) -> None:
    """An HTTPS listener serves an ACM certificate under a TLS 1.3/1.2 policy."""
    f.require(
        str(li.get("certificateArn") or "").startswith("arn:aws:acm:")
        or (ref(graph, li.get("certificateArn")) or li).type == "aws:acm/certificate:Certificate",
        li,
        "HTTPS listener without an ACM certificate",
        *LISTENER_CONTROLS,
    )
    f.require(
        li.get("sslPolicy") in TLS_POLICIES,
        li,
        f"TLS policy {li.get('sslPolicy')} is not a TLS 1.3/1.2 policy",
        "ELB.17",
        "PCI DSS 4.2.1",
    )


def _http_listener(f: Findings, graph: Graph, li: Resource) -> None:
    """An HTTP listener, and every rule on it, only redirects to HTTPS."""
    f.require(
        _redirects_to_https(li.get("defaultActions")),
        li,
        "HTTP listener does something other than redirect to HTTPS",
        "ELB.1",
        "PCI DSS 4.2.1",
    )
    for lr in facts.attached(graph, ["aws:lb/listenerRule:ListenerRule"], "listenerArn", li):
        f.require(
            _redirects_to_https(lr.get("actions")),
            lr,
            "rule on the HTTP listener does more than redirect to HTTPS",
            "ELB.1",
        )


@rule(
    "edge-listeners",
    "HTTPS listener with an ACM certificate and a TLS 1.3/1.2 policy; HTTP only redirects",
    *LISTENER_CONTROLS,
)
def edge_listeners(graph: Graph) -> list[Violation]:
    """Card data crosses the internet only over modern TLS; plain HTTP only sends clients there."""
    f = Findings("edge-listeners")
    for lb in load_balancers(graph):
        listeners = facts.attached(graph, [LISTENER], "loadBalancerArn", lb)
        f.require_any(
            listeners,
            lambda li: li.get("protocol") == "HTTPS",
            lb,
            "has no HTTPS listener",
            *LISTENER_CONTROLS,
        )
        for li in listeners:
            protocol = li.get("protocol")
            if protocol == "HTTPS":
                _https_listener(f, graph, li)
            elif protocol == "HTTP":
                _http_listener(f, graph, li)
            else:
                f.add(
                    li,
                    f"listener protocol {protocol} (only HTTPS, and HTTP redirect)",
                    *LISTENER_CONTROLS,
                )
    return f.items


def _mentions(value: Any, needle: str) -> bool:
    return needle.lower() in str(value).lower()


# The AWS managed groups every web ACL runs: the common rule set (OWASP classes, oversize
# bodies) and known bad inputs (Log4j / Log4Shell, Java deserialisation and similar exploits).
REQUIRED_MANAGED_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def _managed_groups(acl: Resource) -> set[str]:
    groups = set()
    for r in as_list(acl.get("rules")):
        statement = (r.get("statement") or {}) if isinstance(r, dict) else {}
        managed = statement.get("managedRuleGroupStatement") or {}
        if managed.get("vendorName") == "AWS" and r.get("overrideAction", {}).get("count") is None:
            groups.add(str(managed.get("name")))
    return groups


# The header the payment API's keys travel in (`Authorization: Bearer <key>`).
API_KEY_HEADER = "authorization"


def _camel(value: Any) -> Any:
    """A `ruleJson` document (the WAF API's PascalCase) with the wire names `rules` uses."""
    if isinstance(value, dict):
        return {str(k)[:1].lower() + str(k)[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


def _rate_statements(acl: Resource) -> list[dict[str, Any]]:
    """The rate-based statements of a web ACL's rules (`rules`, or the `ruleJson` document)."""
    found = []
    for r in as_list(acl.get("rules")) + as_list(_camel(parse_json(acl.get("ruleJson")))):
        statement = (r.get("statement") or {}) if isinstance(r, dict) else {}
        rate = statement.get("rateBasedStatement")
        if isinstance(rate, dict):
            found.append(rate)
    return found


def _per_api_key(rate: dict[str, Any]) -> bool:
    """Aggregated on the Authorization header alone: each API key is its own instance.

    Another key beside it (the IP, say) would split one key's requests across instances and let
    a key spread over many addresses exceed its limit.
    """
    keys = as_list(rate.get("customKeys"))
    if str(rate.get("aggregateKeyType")).upper() != "CUSTOM_KEYS" or len(keys) != 1:
        return False
    header = (keys[0] or {}).get("header") if isinstance(keys[0], dict) else None
    return isinstance(header, dict) and str(header.get("name", "")).lower() == API_KEY_HEADER


def _rate_limits(f: Findings, acl: Resource) -> None:
    """A rate-based rule per client IP, and one per API key beside it."""
    rates = _rate_statements(acl)
    f.require(bool(rates), acl, "no rate-based rule", "WAF.10")
    if not rates:
        return
    f.require(
        any(str(r.get("aggregateKeyType")).upper() == "IP" for r in rates),
        acl,
        "no rate-based rule per client IP",
        "WAF.10",
    )
    f.require(
        any(_per_api_key(r) for r in rates),
        acl,
        f"no rate-based rule per API key (custom key: the {API_KEY_HEADER} header alone): one "
        "merchant's key could starve the others",
        "WAF.10",
    )


def _web_acl(f: Findings, graph: Graph, acl: Resource) -> None:
    """A web ACL blocks known attacks, limits rates, reports metrics and logs its decisions."""
    rules = (acl.get("rules"), acl.get("ruleJson"))
    f.require(
        _mentions(rules, "managedRuleGroupStatement"),
        acl,
        "no AWS managed rule group",
        "WAF.10",
    )
    missing = [g for g in REQUIRED_MANAGED_GROUPS if g not in _managed_groups(acl)]
    f.require(
        not missing, acl, f"AWS managed rule groups missing or only counting: {missing}", "WAF.10"
    )
    _rate_limits(f, acl)
    visibility = [acl.get("visibilityConfig") or {}] + [
        r.get("visibilityConfig") or {} for r in as_list(acl.get("rules")) if isinstance(r, dict)
    ]
    f.require(
        all(is_true(v.get("cloudwatchMetricsEnabled")) for v in visibility),
        acl,
        "CloudWatch metrics off on the ACL or a rule",
        "WAF.12",
    )
    logging = facts.attached(
        graph,
        ["aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"],
        "resourceArn",
        acl,
    )
    f.require_any(
        logging,
        lambda lg: bool(as_list(lg.get("logDestinationConfigs"))),
        acl,
        "web ACL logging is off",
        "WAF.11",
    )


@rule(
    "edge-waf",
    "WAF web ACL associated, with managed rule groups, rate limits per IP and per API key, "
    "metrics, logging",
    "ELB.16",
    "WAF.10",
    "WAF.11",
    "WAF.12",
)
def edge_waf(graph: Graph) -> list[Violation]:
    """Every request from the internet passes a web application firewall first."""
    f = Findings("edge-waf")
    acls = graph.of_type("aws:wafv2/webAcl:WebAcl")
    associations = graph.of_type("aws:wafv2/webAclAssociation:WebAclAssociation")
    for lb in load_balancers(graph):
        linked = [a for a in associations if a.get("resourceArn") == lb.state.get("arn")]
        f.require_any(
            linked,
            lambda a: (ref(graph, a.get("webAclArn")) or a).type == "aws:wafv2/webAcl:WebAcl",
            lb,
            "no WAF web ACL associated",
            "ELB.16",
        )
    for acl in acls:
        _web_acl(f, graph, acl)
    return f.items
