"""Internet-facing HTTPS load balancer, certificate and WAF.

Creates, under one `payment:edge:Edge` component:
- the ALB access-log bucket (a `buckets.secure_bucket`: versioned, public access blocked, ACLs
  off, SSE-S3, lifecycle, TLS-only policy that lets the regional ELB account write
  `AWSLogs/<account>/*`), because ELB.5 wants access logs and the ALB checks it can write there
  when it is created;
- the certificate the HTTPS listener presents: `deployment.certificate_arn` when set, an
  ACM DNS-validated certificate for `deployment.domain_name` when set, otherwise a generated
  self-signed one imported into ACM, so every environment terminates TLS the same way;
- the internet-facing ALB in the public subnets (invalid headers dropped, desync mitigation,
  no deletion protection so every environment is destroyable), the API target group
  (ip targets for Fargate awsvpc tasks), an HTTPS listener with the profile's TLS 1.3/1.2
  policy and an HTTP listener that only redirects to HTTPS;
- a regional WAFv2 web ACL (a rate-based rule per client IP, a second one per API key, that is
  per value of the Authorization header, so one merchant's key cannot starve the others, plus
  AWS managed rule groups for common exploits, known bad inputs and SQL injection), associated
  with the ALB and logging to the WAF log group with the Authorization header redacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from config import Profile
from payment_platform.buckets import (
    SecureBucket,
    arn_of,
    global_name,
    lifecycle_rule,
    s3_managed_encryption,
    secure_bucket,
)
from payment_platform.component import Scope, after, component_scope
from payment_platform.logs import LogsOutputs
from payment_platform.network import NetworkOutputs
from payment_platform.replaceable import replaceable_name
from payment_platform.security import SecurityOutputs

HTTPS_PORT = 443
HTTP_PORT = 80
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesCommonRuleSet",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesSQLiRuleSet",
)
# NOTE: WAF inspects at most the first 8 KB of a request body behind an ALB ("For Application
# Load Balancer and AWS AppSync, the limit is fixed at 8 KB (8,192 bytes)", AWS WAF Developer
# Guide, body inspection size limits), and the common rule set's SizeRestrictions_BODY blocks
# larger bodies. The API's own limit (MAX_BODY_BYTES, set by the task definition) is this one:
# a larger limit would promise clients what the edge refuses.
WAF_BODY_LIMIT_BYTES = 8192
# Both rate-based rules count over 5 minutes, so the profile's limits are requests per 5 minutes
# (the evaluation windows WAF allows are cited in config/profile.py, EdgeConfig).
RATE_WINDOW_SECONDS = 300
RATE_RULE_PER_IP = "rate-limit-per-ip"
RATE_RULE_PER_API_KEY = "rate-limit-per-api-key"
# The header the API keys travel in (`Authorization: Bearer <key>`). WAF matches header names
# case-insensitively; the logging configuration redacts the same header.
API_KEY_HEADER = "authorization"
ALB_LOG_NONCURRENT_DAYS = 7
CERT_VALIDITY_HOURS = 365 * 24
CERT_EARLY_RENEWAL_HOURS = 30 * 24


@dataclass(frozen=True)
class EdgeOutputs:
    """The load balancer, its listener and target group, and the web ACL in front of it.

    Attributes:
        alb_arn: ARN of the load balancer.
        alb_arn_suffix: The ALB's ARN suffix (CloudWatch `LoadBalancer` dimension).
        alb_dns_name: The ALB's public DNS name.
        https_url: `https://` plus the ALB's DNS name, for smoke tests and operators.
        https_listener_arn: ARN of the HTTPS listener (services wait for it).
        target_group_arn: ARN of the API target group the service registers tasks in.
        target_group_arn_suffix: The target group's ARN suffix (`TargetGroup` dimension).
        web_acl_arn: ARN of the WAF web ACL associated with the ALB.
        web_acl_name: Name of the web ACL (WAF metric dimension).
    """

    alb_arn: pulumi.Output[str]
    alb_arn_suffix: pulumi.Output[str]
    alb_dns_name: pulumi.Output[str]
    https_url: pulumi.Output[str]
    https_listener_arn: pulumi.Output[str]
    target_group_arn: pulumi.Output[str]
    target_group_arn_suffix: pulumi.Output[str]
    web_acl_arn: pulumi.Output[str]
    web_acl_name: pulumi.Output[str]


def _alb_log_bucket(
    profile: Profile, account_id: pulumi.Output[str], parent: pulumi.Resource
) -> SecureBucket:
    """The access-log bucket and its policy (the ALB must be created after the policy)."""
    # NOTE: us-east-1 predates August 2022, so log delivery is authorised by the regional ELB
    # account (aws.elb.get_service_account), not the logdelivery.elasticloadbalancing principal.
    elb_account_arn = aws.elb.get_service_account_output().arn
    bucket_name = global_name(profile.name("alb-logs"), account_id)
    bucket_arn = arn_of(bucket_name)
    return secure_bucket(
        "alb-logs",
        bucket_name,
        # ALB access-log delivery needs SSE-S3 (see the NOTE in s3_managed_encryption).
        encryption=s3_managed_encryption(),
        lifecycle_rules=[
            lifecycle_rule(
                "expire-access-logs",
                expire_days=profile.observability.log_retention_days,
                noncurrent_days=ALB_LOG_NONCURRENT_DAYS,
                abort_upload_days=1,
            )
        ],
        statements=[
            {
                "Sid": "AlbLogDelivery",
                "Effect": "Allow",
                "Principal": {"AWS": elb_account_arn},
                "Action": "s3:PutObject",
                "Resource": pulumi.Output.concat(bucket_arn, "/AWSLogs/", account_id, "/*"),
            }
        ],
        parent=parent,
    )


def _certificate_arn(profile: Profile, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    """The ARN of the certificate the HTTPS listener presents."""
    deployment = profile.deployment
    if deployment.certificate_arn:
        return pulumi.Output.from_input(deployment.certificate_arn)
    if deployment.domain_name:
        cert = aws.acm.Certificate(
            "api",
            domain_name=deployment.domain_name,
            validation_method="DNS",
            opts=opts,
        )
        # NOTE: the profile holds no Route 53 hosted zone, so the DNS validation records are not
        # created here: whoever owns the zone adds the CNAME from the certificate's
        # domain_validation_options. CertificateValidation waits for ISSUED, because a listener
        # cannot use a certificate that is still pending validation.
        validation = aws.acm.CertificateValidation("api", certificate_arn=cert.arn, opts=opts)
        return validation.certificate_arn
    # NOTE: a CN equal to the ALB's DNS name would be circular (the name exists only after the
    # ALB); clients of an environment without a domain must accept this self-signed certificate.
    key = tls.PrivateKey("api-tls", algorithm="RSA", rsa_bits=2048, opts=opts)
    common_name = f"{profile.name('alb')}.internal"
    cert_pem = tls.SelfSignedCert(
        "api-tls",
        private_key_pem=key.private_key_pem,
        subject=tls.SelfSignedCertSubjectArgs(
            common_name=common_name, organization="payment-platform"
        ),
        dns_names=[common_name],
        validity_period_hours=CERT_VALIDITY_HOURS,
        # Replaced (and re-imported) on the first `up` within 30 days of expiry.
        early_renewal_hours=CERT_EARLY_RENEWAL_HOURS,
        allowed_uses=["server_auth", "key_encipherment", "digital_signature"],
        opts=opts,
    )
    private_key: pulumi.Output[str] = pulumi.Output.secret(key.private_key_pem)
    imported = aws.acm.Certificate(
        "api",
        private_key=private_key,
        certificate_body=cert_pem.cert_pem,
        opts=opts,
    )
    return imported.arn


def _no_override() -> aws.wafv2.WebAclRuleOverrideActionNoneArgs:
    # The generated empty Args class has an unannotated __init__.
    return aws.wafv2.WebAclRuleOverrideActionNoneArgs()  # type: ignore[no-untyped-call]


def _visibility(metric: str) -> dict[str, Any]:
    return {
        "cloudwatch_metrics_enabled": True,
        "metric_name": metric,
        "sampled_requests_enabled": True,
    }


def _rate_rule(
    name: str,
    priority: int,
    metric: str,
    statement: aws.wafv2.WebAclRuleStatementRateBasedStatementArgs,
) -> aws.wafv2.WebAclRuleArgs:
    """A rate-based rule that blocks an aggregation instance over its limit."""
    return aws.wafv2.WebAclRuleArgs(
        name=name,
        priority=priority,
        action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(rate_based_statement=statement),
        visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(**_visibility(metric)),
    )


def _rate_rules(profile: Profile, acl_name: str) -> list[aws.wafv2.WebAclRuleArgs]:
    """Per client IP, then per API key: each caps one client without touching the others."""
    per_ip = _rate_rule(
        RATE_RULE_PER_IP,
        0,
        f"{acl_name}-rate-limit",
        aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
            limit=profile.edge.waf_rate_limit,
            aggregate_key_type="IP",
            evaluation_window_sec=RATE_WINDOW_SECONDS,
        ),
    )
    # NOTE: with custom aggregation keys, "web requests that are missing any of the components
    # specified in the aggregation keys are omitted from the rate-based rule evaluation and
    # handling" (AWS WAF API Reference, RateBasedStatementCustomKey): a request without an
    # Authorization header is not counted by this rule (the per-IP rule still counts it, and the
    # API refuses it). Text transformation NONE: every distinct header value is its own key.
    per_key = _rate_rule(
        RATE_RULE_PER_API_KEY,
        1,
        f"{acl_name}-rate-limit-api-key",
        aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
            limit=profile.edge.waf_api_key_rate_limit,
            aggregate_key_type="CUSTOM_KEYS",
            custom_keys=[
                aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyArgs(
                    header=aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderArgs(
                        name=API_KEY_HEADER,
                        text_transformations=[
                            aws.wafv2.WebAclRuleStatementRateBasedStatementCustomKeyHeaderTextTransformationArgs(
                                priority=0, type="NONE"
                            )
                        ],
                    )
                )
            ],
            evaluation_window_sec=RATE_WINDOW_SECONDS,
        ),
    )
    return [per_ip, per_key]


def _web_acl(profile: Profile, opts: pulumi.ResourceOptions) -> aws.wafv2.WebAcl:
    name = profile.name("waf")
    rules = _rate_rules(profile, name)
    for priority, group in enumerate(MANAGED_RULE_GROUPS, start=len(rules)):
        rules.append(
            aws.wafv2.WebAclRuleArgs(
                name=group,
                priority=priority,
                # Managed groups carry their own block actions; "none" keeps them.
                override_action=aws.wafv2.WebAclRuleOverrideActionArgs(none=_no_override()),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                        name=group, vendor_name="AWS"
                    )
                ),
                visibility_config=aws.wafv2.WebAclRuleVisibilityConfigArgs(
                    **_visibility(f"{name}-{group}")
                ),
            )
        )
    return aws.wafv2.WebAcl(
        "api",
        name=name,
        scope="REGIONAL",
        description="Rate limiting and AWS managed rules in front of the payment API",
        default_action=aws.wafv2.WebAclDefaultActionArgs(
            allow=aws.wafv2.WebAclDefaultActionAllowArgs()
        ),
        rules=rules,
        visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(**_visibility(name)),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(delete_before_replace=True)),
    )


def build(
    profile: Profile, logs: LogsOutputs, network: NetworkOutputs, security: SecurityOutputs
) -> EdgeOutputs:
    """Create the HTTPS edge of the platform: ALB, listeners, target group, certificate, WAF."""
    scope = component_scope("edge")
    account_id = aws.get_caller_identity_output().account_id
    logs_bucket = _alb_log_bucket(profile, account_id, scope.component)
    alb = _load_balancer(profile, network, security, logs_bucket, scope)
    target_group = _target_group(profile, network, scope)
    https = _listeners(profile, alb, target_group, scope)
    acl = _waf(profile, logs, alb, scope)
    return scope.finish(
        EdgeOutputs(
            alb_arn=alb.arn,
            alb_arn_suffix=alb.arn_suffix,
            alb_dns_name=alb.dns_name,
            https_url=pulumi.Output.concat("https://", alb.dns_name),
            https_listener_arn=https.arn,
            target_group_arn=target_group.arn,
            target_group_arn_suffix=target_group.arn_suffix,
            web_acl_arn=acl.arn,
            web_acl_name=acl.name,
        )
    )


def _load_balancer(
    profile: Profile,
    network: NetworkOutputs,
    security: SecurityOutputs,
    logs_bucket: SecureBucket,
    scope: Scope,
) -> aws.lb.LoadBalancer:
    """The internet-facing ALB in the public subnets, logging to its bucket."""
    # NOTE: load balancer and target group names are limited to 32 characters; the profile
    # rejects a suffix that would push "payment-alb-<suffix>" or "payment-tg-<suffix>-<token>"
    # past it.
    return aws.lb.LoadBalancer(
        "api",
        name=profile.name("alb"),
        internal=False,
        load_balancer_type="application",
        ip_address_type="ipv4",
        security_groups=[security.alb_security_group_id],
        # NOTE: an internet-facing ALB created before the public route to the internet gateway
        # fails intermittently ("InvalidSubnet: VPC has no internet gateway"): its subnets carry
        # a dependency on that route.
        subnets=[after(s, [network.internet_route_id]) for s in network.public_subnet_ids],
        drop_invalid_header_fields=True,
        desync_mitigation_mode="defensive",
        idle_timeout=profile.edge.idle_timeout_seconds,
        enable_http2=True,
        enable_deletion_protection=False,
        access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs_bucket.bucket.id, enabled=True),
        # NOTE: the ALB verifies it can write to the log bucket at creation; without the bucket
        # policy in place first it fails with "Access Denied for bucket".
        opts=scope.opts(delete_before_replace=True, depends_on=[logs_bucket.policy]),
    )


def _target_group(profile: Profile, network: NetworkOutputs, scope: Scope) -> aws.lb.TargetGroup:
    """The API target group: Fargate tasks by IP, health-checked on the app's path."""
    interval = profile.edge.health_check_interval_seconds
    target_type, protocol, port = "ip", "HTTP", profile.compute.container_port
    # NOTE: a target group cannot be deleted while a listener forwards to it (ResourceInUse,
    # pulumi-aws #4220, #4226), and the listener is only updated, never replaced, when the group
    # is: delete-first replacement fails. The name changes with every argument that forces a
    # replacement (terraform-provider-aws internal/service/elbv2/target_group.go: ForceNew are
    # name, port, protocol, protocol_version, ip_address_type, target_type, vpc_id; the last two
    # of those are left at their defaults here), so the new group is created first and the
    # listener moves to it.
    name = replaceable_name(
        "api-tg",
        profile.name("tg"),
        replaced_by={
            "port": str(port),
            "protocol": protocol,
            "target_type": target_type,
            "vpc_id": network.vpc_id,
        },
        opts=scope.child,
    )
    return aws.lb.TargetGroup(
        "api",
        name=name,
        target_type=target_type,  # Fargate awsvpc tasks register by IP
        protocol=protocol,
        port=port,
        vpc_id=network.vpc_id,
        deregistration_delay=profile.edge.deregistration_delay_seconds,
        health_check=aws.lb.TargetGroupHealthCheckArgs(
            enabled=True,
            protocol="HTTP",
            port="traffic-port",
            path=profile.compute.health_check_path,
            matcher="200",
            interval=interval,
            timeout=min(5, interval - 1),  # must be shorter than the interval
            healthy_threshold=profile.edge.healthy_threshold,
            unhealthy_threshold=profile.edge.unhealthy_threshold,
        ),
        opts=scope.child,
    )


def _listeners(
    profile: Profile, alb: aws.lb.LoadBalancer, target_group: aws.lb.TargetGroup, scope: Scope
) -> aws.lb.Listener:
    """HTTPS forwarding to the API, and HTTP that only redirects to HTTPS; returns HTTPS."""
    https = aws.lb.Listener(
        "https",
        load_balancer_arn=alb.arn,
        port=HTTPS_PORT,
        protocol="HTTPS",
        ssl_policy=profile.edge.ssl_policy,
        certificate_arn=_certificate_arn(profile, scope.child),
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)
        ],
        opts=scope.child,
    )
    aws.lb.Listener(
        "http",
        load_balancer_arn=alb.arn,
        port=HTTP_PORT,
        protocol="HTTP",
        default_actions=[
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    protocol="HTTPS", port=str(HTTPS_PORT), status_code="HTTP_301"
                ),
            )
        ],
        opts=scope.child,
    )
    return https


def _waf(
    profile: Profile, logs: LogsOutputs, alb: aws.lb.LoadBalancer, scope: Scope
) -> aws.wafv2.WebAcl:
    """The web ACL, associated with the ALB, logging with the Authorization header redacted."""
    acl = _web_acl(profile, scope.child)
    aws.wafv2.WebAclAssociation("api", resource_arn=alb.arn, web_acl_arn=acl.arn, opts=scope.child)
    # NOTE: WAF only logs to a log group whose name starts with "aws-waf-logs-", given by its ARN
    # without the ":*" suffix; the Authorization header is redacted so tokens never reach logs.
    aws.wafv2.WebAclLoggingConfiguration(
        "api",
        resource_arn=acl.arn,
        log_destination_configs=[logs.waf_log_group_arn.apply(lambda arn: arn.removesuffix(":*"))],
        redacted_fields=[
            aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(
                    name=API_KEY_HEADER
                )
            )
        ],
        opts=scope.child,
    )
    return acl
