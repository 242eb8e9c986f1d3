"""Edge: HTTPS-only ALB with a modern TLS policy, access logs, certificate branches, WAF."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

import config
from config import Profile
from offline.mocks import ACCOUNT_ID, ELB_ACCOUNT_US_EAST_1
from offline.recorder import ROOT, stack_config
from payment_platform import edge
from resource_graph import Graph, Resource
from tests import fakes
from tests.conftest import Graphs

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TG = "aws:lb/targetGroup:TargetGroup"
ACL = "aws:wafv2/webAcl:WebAcl"
ACM = "aws:acm/certificate:Certificate"
CERT_ID = "0a1b2c3d-0000-4000-8000-0123456789ab"
CERT_ARN = f"arn:aws:acm:us-east-1:{ACCOUNT_ID}:certificate/{CERT_ID}"


def profile_with(env: str, **stack: str) -> Profile:
    cfg = stack_config(env, overrides={f"payment:{k}": v for k, v in stack.items()})
    return config.load(cfg, stack_file=f"Pulumi.{env}.yaml", root=ROOT)


def _build(profile: Profile) -> None:
    out = edge.build(profile, fakes.logs(profile), fakes.network(profile), fakes.security())
    pulumi.export("https_url", out.https_url)
    pulumi.export("web_acl_name", out.web_acl_name)


@pytest.fixture
def build_edge(run_builder: Callable[..., Graph]) -> Callable[[Profile], Graph]:
    def run(profile: Profile) -> Graph:
        return run_builder(lambda: _build(profile), env=profile.env)

    return run


@pytest.fixture
def env_graph(graphs: Graphs, profile: Profile) -> tuple[Profile, Graph]:
    """The edge of each committed environment (the `profile` fixture runs dev, staging, prod)."""
    return profile, graphs.builder("edge", profile.env, _build)


def listener(graph: Graph, port: int) -> Resource:
    found = [r for r in graph.of_type(LISTENER) if r.inputs["port"] == port]
    assert len(found) == 1
    return found[0]


# --- load balancer and listeners -------------------------------------------------------------


def test_https_listener_uses_profile_tls_policy_and_the_configured_certificate(env_graph):
    profile, graph = env_graph
    https = listener(graph, 443)
    assert https.inputs["protocol"] == "HTTPS"
    assert https.inputs["sslPolicy"] == profile.edge.ssl_policy
    assert https.inputs["sslPolicy"].startswith("ELBSecurityPolicy-TLS13-")
    tg = graph.one(TG)
    assert https.inputs["defaultActions"] == [
        {"type": "forward", "targetGroupArn": tg.state["arn"]}
    ]
    assert https.inputs["loadBalancerArn"] == graph.one(LB).state["arn"]
    deployment = profile.deployment
    if deployment.certificate_arn:
        assert https.inputs["certificateArn"] == deployment.certificate_arn
    elif deployment.domain_name:
        cert = graph.one(ACM)
        assert cert.inputs["domainName"] == deployment.domain_name
        assert not graph.of_type("tls:index/selfSignedCert:SelfSignedCert")
    else:
        assert_self_signed(profile, graph)


def assert_self_signed(profile: Profile, graph: Graph) -> None:
    """The listener presents the generated key's self-signed certificate, imported into ACM."""
    https = listener(graph, 443)
    cert = graph.one(ACM)
    assert https.inputs["certificateArn"] == cert.state["arn"]
    key = graph.one("tls:index/privateKey:PrivateKey")
    self_signed = graph.one("tls:index/selfSignedCert:SelfSignedCert")
    assert cert.inputs["privateKey"] == key.state["privateKeyPem"]
    assert cert.inputs["certificateBody"] == self_signed.state["certPem"]
    assert self_signed.inputs["subject"]["commonName"] == f"{profile.name('alb')}.internal"
    assert set(self_signed.inputs["allowedUses"]) == {
        "server_auth",
        "key_encipherment",
        "digital_signature",
    }
    assert self_signed.inputs["validityPeriodHours"] == 365 * 24


def test_http_listener_only_redirects_to_https(env_graph):
    _, graph = env_graph
    http = listener(graph, 80)
    assert http.inputs["protocol"] == "HTTP"
    (action,) = http.inputs["defaultActions"]
    assert action["type"] == "redirect"
    assert "targetGroupArn" not in action and "forward" not in action
    assert action["redirect"] == {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}
    assert len(graph.of_type(LISTENER)) == 2


def test_alb_hardening(env_graph):
    profile, graph = env_graph
    alb = graph.one(LB)
    i = alb.inputs
    assert i["name"] == profile.name("alb") and len(i["name"]) <= 32
    assert i["internal"] is False and i["loadBalancerType"] == "application"
    assert i["dropInvalidHeaderFields"] is True
    assert i["desyncMitigationMode"] in {"defensive", "strictest"}
    assert i["enableDeletionProtection"] is False
    assert i["idleTimeout"] == profile.edge.idle_timeout_seconds
    assert i["subnets"] == [f"subnet-public{n}" for n in range(profile.network.az_count)]
    assert len(i["subnets"]) >= 2  # ELB.13
    assert i["securityGroups"] == ["sg-alb"]
    assert alb.delete_before_replace


def test_target_group_health_check(env_graph):
    profile, graph = env_graph
    tg = graph.one(TG).inputs
    assert re.fullmatch(re.escape(profile.name("tg")) + r"-[0-9a-f]{4}", tg["name"])
    assert len(tg["name"]) <= 32
    assert tg["targetType"] == "ip"
    assert tg["protocol"] == "HTTP" and tg["port"] == profile.compute.container_port
    assert tg["deregistrationDelay"] == profile.edge.deregistration_delay_seconds
    hc = tg["healthCheck"]
    assert hc["path"] == profile.compute.health_check_path
    assert hc["port"] == "traffic-port"
    assert hc["matcher"] == "200"
    assert hc["healthyThreshold"] == profile.edge.healthy_threshold
    assert hc["unhealthyThreshold"] == profile.edge.unhealthy_threshold
    assert hc["interval"] == profile.edge.health_check_interval_seconds
    assert hc["timeout"] < hc["interval"]


# --- access logs ------------------------------------------------------------------------------


def test_access_logs_bucket(env_graph):
    profile, graph = env_graph
    bucket = graph.one("aws:s3/bucket:Bucket")
    name = f"{profile.name('alb-logs')}-{ACCOUNT_ID}"
    assert bucket.inputs["bucket"] == name and len(name) <= 63
    assert bucket.inputs["forceDestroy"] is True
    alb = graph.one(LB)
    assert alb.inputs["accessLogs"] == {"enabled": True, "bucket": name}
    sse = graph.one(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    (rule,) = sse.inputs["rules"]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    block = graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True
        for k in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    versioning = graph.one("aws:s3/bucketVersioning:BucketVersioning").inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    ownership = graph.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerEnforced"
    lifecycle = graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    (lc,) = lifecycle.inputs["rules"]
    assert lc["status"] == "Enabled"
    assert lc["expiration"]["days"] == profile.observability.log_retention_days


def test_access_logs_bucket_policy_and_ordering(env_graph):
    _, graph = env_graph
    bucket = graph.one("aws:s3/bucket:Bucket").inputs["bucket"]
    policy_resource = graph.one("aws:s3/bucketPolicy:BucketPolicy")
    statements = policy_resource.policy()["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AlbLogDelivery",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/AWSLogs/{ACCOUNT_ID}/*",
        }
    ]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert set(deny["Resource"]) == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    # the ALB checks write access at creation: it must come after the policy
    assert policy_resource.urn in graph.one(LB).dependencies


# --- certificate branches --------------------------------------------------------------------


def test_configured_certificate_is_used_and_nothing_is_generated(build_edge):
    graph = build_edge(profile_with("staging", certificateArn=CERT_ARN))
    assert listener(graph, 443).inputs["certificateArn"] == CERT_ARN
    assert not graph.of_type(
        ACM, "tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert"
    )


def test_no_certificate_configured_gets_a_generated_one(build_edge):
    dev = profile_with("dev")
    unset = dev.deployment.model_copy(update={"certificate_arn": None, "domain_name": None})
    profile = dev.model_copy(update={"deployment": unset})
    assert_self_signed(profile, build_edge(profile))


def test_domain_gets_a_dns_validated_certificate(build_edge):
    graph = build_edge(profile_with("dev", domainName="pay.example.com"))
    cert = graph.one(ACM)
    assert cert.inputs["domainName"] == "pay.example.com"
    assert cert.inputs["validationMethod"] == "DNS"
    validation = graph.one("aws:acm/certificateValidation:CertificateValidation")
    assert validation.inputs["certificateArn"] == cert.state["arn"]
    assert listener(graph, 443).inputs["certificateArn"] == cert.state["arn"]
    assert not graph.of_type("tls:index/selfSignedCert:SelfSignedCert")


# --- WAF ---------------------------------------------------------------------------------------


def test_waf_rate_rule_and_managed_groups(env_graph):
    profile, graph = env_graph
    acl = graph.one(ACL)
    i = acl.inputs
    assert i["name"] == profile.name("waf") and i["scope"] == "REGIONAL"
    assert i["defaultAction"] == {"allow": {}}
    rules = {r["name"]: r for r in i["rules"]}
    rate_rules = [r for r in i["rules"] if "rateBasedStatement" in r["statement"]]
    assert {r["name"] for r in rate_rules} == {"rate-limit-per-ip", "rate-limit-per-api-key"}
    per_ip = rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"]
    assert per_ip["limit"] == profile.edge.waf_rate_limit
    assert per_ip["aggregateKeyType"] == "IP"
    for rate in rate_rules:
        assert rate["statement"]["rateBasedStatement"].get("evaluationWindowSec", 300) == 300
        assert rate["action"] == {"block": {}}
    managed = {
        r["statement"]["managedRuleGroupStatement"]["name"]: r
        for r in i["rules"]
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert set(managed) == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
    }
    for rule in managed.values():
        assert rule["statement"]["managedRuleGroupStatement"]["vendorName"] == "AWS"
        assert rule["overrideAction"] == {"none": {}}
    assert len({r["priority"] for r in rules.values()}) == len(rules)
    for config_ in [i["visibilityConfig"], *(r["visibilityConfig"] for r in i["rules"])]:
        assert config_["cloudwatchMetricsEnabled"] is True
        assert config_["sampledRequestsEnabled"] is True
        assert config_["metricName"]
    assert graph.outputs["web_acl_name"] == profile.name("waf")


def test_waf_is_associated_with_the_alb_and_logs_redacted(env_graph):
    profile, graph = env_graph
    acl = graph.one(ACL)
    association = graph.one("aws:wafv2/webAclAssociation:WebAclAssociation").inputs
    assert association["resourceArn"] == graph.one(LB).state["arn"]
    assert association["webAclArn"] == acl.state["arn"]
    logging = graph.one("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration").inputs
    assert logging["resourceArn"] == acl.state["arn"]
    assert logging["logDestinationConfigs"] == [
        f"arn:aws:logs:us-east-1:{ACCOUNT_ID}:log-group:aws-waf-logs-payment-{profile.suffix}"
    ]
    assert {"singleHeader": {"name": "authorization"}} in logging["redactedFields"]


# --- structure ---------------------------------------------------------------------------------


def test_everything_under_the_edge_component_and_https_url(env_graph):
    _, graph = env_graph
    component = graph.one("payment:edge:Edge", "edge")
    custom = [r for r in graph if r.custom]
    assert custom and all(r.parent == component.urn for r in custom)
    assert graph.outputs["https_url"] == "https://" + graph.one(LB).state["dnsName"]


def _per_api_key(graph: Graph) -> dict[str, Any]:
    rules = {r["name"]: r for r in graph.one(ACL).inputs["rules"]}
    statement: dict[str, Any] = rules["rate-limit-per-api-key"]["statement"]["rateBasedStatement"]
    return statement


def test_waf_limits_each_api_key_beside_each_ip(env_graph):
    """One merchant's key cannot use up the headroom of the others, whatever its addresses."""
    profile, graph = env_graph
    statement = _per_api_key(graph)
    assert statement["limit"] == profile.edge.waf_api_key_rate_limit
    assert statement["aggregateKeyType"] == "CUSTOM_KEYS"
    # The Authorization header alone, as sent: each distinct key is one aggregation instance.
    assert statement["customKeys"] == [
        {
            "header": {
                "name": "authorization",
                "textTransformations": [{"priority": 0, "type": "NONE"}],
            }
        }
    ]
    assert "scopeDownStatement" not in statement
    # Evaluated right after the per-IP rule, before the managed groups.
    priorities = {r["name"]: r["priority"] for r in graph.one(ACL).inputs["rules"]}
    managed = [p for n, p in priorities.items() if n.startswith("AWSManagedRules")]
    assert priorities["rate-limit-per-ip"] < priorities["rate-limit-per-api-key"] < min(managed)


def test_waf_api_key_limit_follows_the_profile(build_edge):
    # Values no environment file holds: the rules follow whatever the profile says.
    base = profile_with("staging")
    limits = {"waf_rate_limit": 1234, "waf_api_key_rate_limit": 4321}
    profile = base.model_copy(update={"edge": base.edge.model_copy(update=limits)})
    graph = build_edge(profile)
    assert _per_api_key(graph)["limit"] == 4321
    rules = {r["name"]: r for r in graph.one(ACL).inputs["rules"]}
    assert rules["rate-limit-per-ip"]["statement"]["rateBasedStatement"]["limit"] == 1234
