"""Structural identity: the shape of an environment, and the difference between two shapes.

A shape is what must be the same in every environment: which kinds of resource exist under
which concern, how they are wired (parent and dependency edges), their security-relevant
properties in normalised form (encryption and which key, TLS, public access, security-group
rules, IAM statements, subscriptions, resource options, tag keys), and that every counted
family has exactly the count the profile gives it. Names are folded by tokens (suffix, account,
AZ, counter), references become the logical identity of the resource they point at, and ARNs
outside the stack become their kind, so values may differ between environments while kinds,
wiring and security settings may not.

Resources that exist by a per-deployment stack key (a certificate made here, the alerts e-mail,
an image built here) are left out only where that key says they should exist, and the shape
names the key; anything else present in one environment and not the other is a difference.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import config
from config import Profile
from offline.mocks import ACCOUNT_ID
from offline.recorder import ROOT, stack_config
from resource_graph import Graph, Resource

# --- names ------------------------------------------------------------------------------------

# Names split into tokens on these; the separators are kept so a folded name reads as before.
_SEPARATOR = re.compile(r"([-/:.])")
_AZ = re.compile(r"(?<![a-z0-9])[a-z]{2}-[a-z]+-\d[a-f](?![a-z0-9])")
_INDEX = re.compile(r"(-|_)\d+(?=(-|_|$))")
SUFFIX = "{suffix}"
ACCOUNT = "{account}"


def _replace_run(parts: list[str], pattern: list[str], placeholder: str) -> list[str]:
    """Replace each run of `parts` equal to `pattern` by `placeholder`.

    Both are split by `_SEPARATOR`: tokens at even positions, separators at odd ones, so a run
    starts on a token and a multi-token suffix (`pr-142`) matches as a whole.
    """
    out: list[str] = []
    i, width = 0, len(pattern)
    while i < len(parts):
        if i % 2 == 0 and parts[i : i + width] == pattern:
            out.append(placeholder)
            i += width
        else:
            out.append(parts[i])
            i += 1
    return out


def fold_tokens(name: str, suffixes: Iterable[str], account: str | None = None) -> str:
    """`name` with every whole-token run equal to a suffix (or the account id) folded away.

    Token-wise, not a string replace: the suffix `rt` folds `payment-queue-rt` but leaves
    `private-rt-0` alone, and `pr-142` is matched as its two tokens.
    """
    parts = _SEPARATOR.split(name)
    for suffix in sorted({s for s in suffixes if s}, key=len, reverse=True):
        parts = _replace_run(parts, _SEPARATOR.split(suffix), SUFFIX)
    if account:
        parts = _replace_run(parts, [account], ACCOUNT)
    return "".join(parts)


def family(name: str, *suffixes: str) -> str:
    """A logical name with the suffixes (by token), AZ names and counters folded away."""
    folded = _AZ.sub("{az}", fold_tokens(name, suffixes))
    return _INDEX.sub(r"\1#", folded)


# --- one graph, as the shape reads it ---------------------------------------------------------


def _arn_kind(arn: str) -> str:
    """What an ARN outside the stack is: its service and resource type, never its name."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "<arn>"
    service, account, resource = parts[2], parts[4], parts[5]
    kind = {"s3": "object" if "/" in resource else "bucket", "sqs": "queue", "sns": "topic"}.get(
        service, re.split(r"[/:]", resource, maxsplit=1)[0]
    )
    own = account in ("", "*", ACCOUNT_ID)
    if service == "iam" and kind == "root":
        return "<this account's root>" if own else "<another account's root>"
    where = "outside the stack" if own else "in another account"
    return f"<{service}:{kind}{' (wildcard)' if '*' in resource else ''} {where}>"


def _concerns(graph: Graph) -> dict[str, str]:
    """The concern of every urn, walking each parent chain once (Graph.concern is linear)."""
    by_urn = {r.urn: r for r in graph}
    found: dict[str, str] = {}

    def concern(resource: Resource) -> str:
        if resource.urn not in found:
            if resource.type.startswith("payment:"):
                found[resource.urn] = resource.type.split(":")[1]
            elif resource.parent in by_urn:
                found[resource.urn] = concern(by_urn[resource.parent])
            else:
                found[resource.urn] = "stack"
        return found[resource.urn]

    for resource in graph:
        concern(resource)
    return found


@dataclass(frozen=True)
class View:
    """One graph with its names folded by `suffixes` and its references resolvable."""

    graph: Graph
    suffixes: tuple[str, ...]
    concerns: Mapping[str, str]
    index: Mapping[str, Resource]  # id, ARN or URL -> resource
    arns: tuple[tuple[str, Resource], ...]  # longest first, for ARNs with a path after them

    @classmethod
    def of(cls, graph: Graph, suffixes: Iterable[str] = ()) -> View:
        """The view of `graph`, folding its own suffix and any of `suffixes`."""
        index: dict[str, Resource] = {}
        for resource in graph:
            for value in (resource.id, resource.state.get("arn"), resource.state.get("url")):
                if isinstance(value, str) and value:
                    index.setdefault(value, resource)
        arns = sorted(
            ((k, r) for k, r in index.items() if k.startswith("arn:")), key=lambda kr: -len(kr[0])
        )
        folds = tuple(dict.fromkeys((graph.suffix, *suffixes)))
        return cls(graph, folds, _concerns(graph), index, tuple(arns))

    def family(self, resource: Resource) -> str:
        return family(resource.name, *self.suffixes)

    def key(self, resource: Resource) -> str:
        """concern:type:family, the unit the shape compares."""
        return f"{self.concerns[resource.urn]}:{resource.type}:{self.family(resource)}"

    def ident(self, resource: Resource) -> str:
        """How a reference to `resource` reads: its family and type, never its id or ARN."""
        return f"{self.family(resource)} [{resource.type}]"

    def fold(self, text: str) -> str:
        return fold_tokens(text, self.suffixes, ACCOUNT_ID)

    def ref(self, value: Any) -> Any:
        """An input that may name a resource: its logical identity, an ARN's kind, or folded."""
        if isinstance(value, list | tuple):
            return sorted((self.ref(v) for v in value), key=_text)
        if not isinstance(value, str) or not value or value == "*":
            return value
        target = self.index.get(value)
        if target is not None:
            return self.ident(target)
        for arn, resource in self.arns:
            if value.startswith(arn) and value[len(arn)] in "/:":
                return self.ident(resource) + self.fold(value[len(arn) :])
        return _arn_kind(value) if value.startswith("arn:") else self.fold(value)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _parsed(value: Any) -> Any:
    """A JSON document input (policy, container definitions) parsed; others unchanged."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _get(value: Any, path: str) -> Any:
    """A nested input by dotted path; `a[].b` maps over the list `a` (None when absent)."""
    steps = path.replace("[]", ".[]").split(".")
    return _walk(value, steps)


def _walk(value: Any, steps: list[str]) -> Any:
    if not steps:
        return value
    value = _parsed(value)
    step, rest = steps[0], steps[1:]
    if step == "[]":
        return [_walk(v, rest) for v in value] if isinstance(value, list) else None
    return _walk(value.get(step), rest) if isinstance(value, Mapping) else None


def _absent(value: Any) -> bool:
    """Unset, or unset in every item of a list (`rules[].bucketKeyEnabled` on SSE-S3)."""
    return value is None or (isinstance(value, list) and all(v is None for v in value))


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


# --- security-relevant properties -------------------------------------------------------------

SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SG_EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"

# Inputs copied as they are: encryption, TLS, public-access and audit switches (dotted paths).
FLAGS: dict[str, tuple[str, ...]] = {
    "aws:rds/cluster:Cluster": (
        "storageEncrypted",
        "iamDatabaseAuthenticationEnabled",
        "manageMasterUserPassword",
    ),
    "aws:rds/clusterInstance:ClusterInstance": ("publiclyAccessible", "performanceInsightsEnabled"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "atRestEncryptionEnabled",
        "transitEncryptionEnabled",
        "transitEncryptionMode",
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": (
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "rules[].applyServerSideEncryptionByDefault.sseAlgorithm",
        "rules[].bucketKeyEnabled",
    ),
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": ("rule.objectOwnership",),
    "aws:ec2/subnet:Subnet": ("mapPublicIpOnLaunch",),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("vpcEndpointType", "privateDnsEnabled"),
    "aws:lb/loadBalancer:LoadBalancer": (
        "internal",
        "dropInvalidHeaderFields",
        "desyncMitigationMode",
        "accessLogs.enabled",
    ),
    "aws:lb/listener:Listener": (
        "protocol",
        "port",
        "sslPolicy",
        "defaultActions[].type",
        "defaultActions[].redirect.protocol",
    ),
    "aws:lb/targetGroup:TargetGroup": ("protocol", "healthCheck.protocol"),
    "aws:kms/key:Key": ("enableKeyRotation",),
    "aws:cloudtrail/trail:Trail": (
        "enableLogging",
        "enableLogFileValidation",
        "isMultiRegionTrail",
        "includeGlobalServiceEvents",
    ),
    "aws:ec2/flowLog:FlowLog": ("trafficType",),
    "aws:ecr/repository:Repository": (
        "imageTagMutability",
        "imageScanningConfiguration.scanOnPush",
        "encryptionConfigurations[].encryptionType",
    ),
    "aws:ecs/service:Service": ("networkConfiguration.assignPublicIp", "enableExecuteCommand"),
    "aws:ecs/taskDefinition:TaskDefinition": (
        "containerDefinitions[].privileged",
        "containerDefinitions[].readonlyRootFilesystem",
        "containerDefinitions[].user",
    ),
    "aws:sqs/queue:Queue": ("sqsManagedSseEnabled",),
    SUBSCRIPTION: ("protocol", "rawMessageDelivery"),
}

# Inputs that name another resource (which key, which group, which topic): by logical identity.
REFERENCES: dict[str, tuple[str, ...]] = {
    "aws:rds/cluster:Cluster": ("kmsKeyId", "masterUserSecretKmsKeyId", "vpcSecurityGroupIds"),
    "aws:rds/clusterInstance:ClusterInstance": ("performanceInsightsKmsKeyId",),
    "aws:elasticache/replicationGroup:ReplicationGroup": ("kmsKeyId", "securityGroupIds"),
    "aws:secretsmanager/secret:Secret": ("kmsKeyId",),
    "aws:sqs/queue:Queue": ("kmsMasterKeyId",),
    "aws:sns/topic:Topic": ("kmsMasterKeyId",),
    "aws:cloudwatch/logGroup:LogGroup": ("kmsKeyId",),
    "aws:cloudtrail/trail:Trail": (
        "kmsKeyId",
        "s3BucketName",
        "cloudWatchLogsGroupArn",
        "cloudWatchLogsRoleArn",
    ),
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "bucket",
        "rules[].applyServerSideEncryptionByDefault.kmsMasterKeyId",
    ),
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": ("bucket",),
    "aws:s3/bucketPolicy:BucketPolicy": ("bucket",),
    "aws:s3/bucketLogging:BucketLogging": ("bucket", "targetBucket"),
    "aws:sqs/queuePolicy:QueuePolicy": ("queueUrl",),
    "aws:sns/topicPolicy:TopicPolicy": ("arn",),
    "aws:iam/rolePolicy:RolePolicy": ("role",),
    "aws:ecr/repository:Repository": ("encryptionConfigurations[].kmsKey",),
    "aws:ec2/flowLog:FlowLog": ("logDestination", "iamRoleArn"),
    "aws:ec2/vpcEndpoint:VpcEndpoint": ("securityGroupIds",),
    "aws:lb/loadBalancer:LoadBalancer": ("securityGroups", "accessLogs.bucket"),
    "aws:lb/listener:Listener": ("loadBalancerArn", "defaultActions[].targetGroupArn"),
    "aws:ecs/service:Service": ("networkConfiguration.securityGroups",),
    "aws:ecs/taskDefinition:TaskDefinition": ("taskRoleArn", "executionRoleArn"),
    "aws:kms/alias:Alias": ("targetKeyId",),
    "aws:wafv2/webAclAssociation:WebAclAssociation": ("resourceArn", "webAclArn"),
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        "resourceArn",
        "logDestinationConfigs",
    ),
    SUBSCRIPTION: ("topic",),
    SG_INGRESS: ("securityGroupId",),
    SG_EGRESS: ("securityGroupId",),
}

# Policy documents (IAM JSON), compared statement by statement.
POLICIES: dict[str, str] = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:iam/rolePolicy:RolePolicy": "policy",
    "aws:iam/policy:Policy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:kms/key:Key": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:secretsmanager/secretPolicy:SecretPolicy": "policy",
}

Property = tuple[str, Any]


def _statement(view: View, st: Mapping[str, Any]) -> str:
    """One IAM statement: effect, actions, resources (by kind), principals, condition keys."""
    words = [str(st.get("Effect"))]
    for key, label in (("Action", ""), ("NotAction", "all but ")):
        if key in st:
            words.append(label + ", ".join(sorted(str(a) for a in _as_list(st[key]))))
    for key, label in (("Resource", "on"), ("NotResource", "on all but")):
        if key in st:
            words.append(f"{label} {', '.join(_text(r) for r in view.ref(_as_list(st[key])))}")
    principal = st.get("Principal")
    if isinstance(principal, Mapping):
        who = [f"{kind} {_text(view.ref(_as_list(v)))}" for kind, v in sorted(principal.items())]
        words.append("for " + "; ".join(who))
    elif principal is not None:
        words.append(f"for {principal}")
    condition = st.get("Condition")
    if isinstance(condition, Mapping):
        tests = [
            f"{op} {key} {_text(view.ref(_as_list(value)))}"
            for op, block in sorted(condition.items())
            if isinstance(block, Mapping)
            for key, value in sorted(block.items())
        ]
        words.append("if " + "; ".join(tests))
    return " ".join(words)


def _policy(view: View, resource: Resource) -> Iterator[Property]:
    document = _parsed(resource.inputs.get(POLICIES[resource.type]))
    if isinstance(document, Mapping):
        for st in _as_list(document.get("Statement")):
            if isinstance(st, Mapping):
                yield "policy statement", _statement(view, st)


def _peer(view: View, rule: Mapping[str, Any]) -> str:
    """The other side of a security-group rule, by kind: anywhere, the VPC, a group, a list."""
    cidrs = _as_list(rule.get("cidrIpv4")) + _as_list(rule.get("cidrIpv6"))
    cidrs += _as_list(rule.get("cidrBlocks")) + _as_list(rule.get("ipv6CidrBlocks"))
    vpcs = {str(v.inputs.get("cidrBlock")) for v in view.graph.of_type("aws:ec2/vpc:Vpc")}
    peers = [
        "anywhere" if c in ("0.0.0.0/0", "::/0") else "the VPC" if c in vpcs else "a CIDR range"
        for c in cidrs
    ]
    for key in ("referencedSecurityGroupId", "sourceSecurityGroupId", "securityGroups"):
        peers += [f"group {view.ref(g)}" for g in _as_list(rule.get(key))]
    if rule.get("self"):
        peers.append("its own group")
    if rule.get("prefixListId") or rule.get("prefixListIds"):
        peers.append("a prefix list")
    return ", ".join(sorted(peers)) or "no peer"


def _rule_text(direction: str, rule: Mapping[str, Any], view: View) -> str:
    protocol = rule.get("ipProtocol", rule.get("protocol"))
    ports = f"{rule.get('fromPort')}-{rule.get('toPort')}"
    side = "from" if direction == "ingress" else "to"
    return f"{direction} {protocol} {ports} {side} {_peer(view, rule)}"


def _security_group_rules(view: View, resource: Resource) -> Iterator[Property]:
    """Rule resources, inline rules (an explicit `egress=[]` too) and legacy rules."""
    if resource.type in (SG_INGRESS, SG_EGRESS):
        direction = "ingress" if resource.type == SG_INGRESS else "egress"
        yield "rule", _rule_text(direction, resource.inputs, view)
    elif resource.type == "aws:ec2/securityGroupRule:SecurityGroupRule":
        yield "rule", _rule_text(str(resource.inputs.get("type")), resource.inputs, view)
        yield "securityGroupId", view.ref(resource.inputs.get("securityGroupId"))
    else:
        for direction in ("ingress", "egress"):
            if direction in resource.inputs:
                rules = _as_list(resource.inputs[direction])
                yield f"inline {direction}", sorted(_rule_text(direction, r, view) for r in rules)


def _subscription_endpoint(view: View, resource: Resource) -> Iterator[Property]:
    """What a subscription delivers to, by kind: a queue of the stack, an e-mail address, ..."""
    protocol = str(resource.inputs.get("protocol"))
    endpoint = resource.inputs.get("endpoint")
    if protocol in ("email", "email-json"):
        yield "endpoint", "an e-mail address"
    elif protocol in ("http", "https"):
        yield "endpoint", f"an {protocol} URL"
    elif protocol == "sms":
        yield "endpoint", "a phone number"
    else:
        yield "endpoint", view.ref(endpoint)


def _tls_parameters(view: View, resource: Resource) -> Iterator[Property]:
    """The parameters of a parameter group that decide TLS (rds.force_ssl, ssl_* ...)."""
    for parameter in _as_list(resource.inputs.get("parameters")):
        name = str(parameter.get("name", "")) if isinstance(parameter, Mapping) else ""
        if "ssl" in name or "tls" in name:
            yield "parameter", f"{name}={parameter.get('value')}"


SPECIAL: dict[str, Callable[[View, Resource], Iterator[Property]]] = {
    **dict.fromkeys(POLICIES, _policy),
    **dict.fromkeys(
        (
            SG_INGRESS,
            SG_EGRESS,
            "aws:ec2/securityGroupRule:SecurityGroupRule",
            "aws:ec2/securityGroup:SecurityGroup",
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        ),
        _security_group_rules,
    ),
    SUBSCRIPTION: _subscription_endpoint,
    "aws:rds/clusterParameterGroup:ClusterParameterGroup": _tls_parameters,
    "aws:rds/parameterGroup:ParameterGroup": _tls_parameters,
    "aws:elasticache/parameterGroup:ParameterGroup": _tls_parameters,
}


def _options(resource: Resource) -> list[str]:
    flags = [
        name
        for name, on in (
            ("delete_before_replace", resource.delete_before_replace),
            ("protect", resource.protect),
            ("retain_on_delete", resource.retain_on_delete),
        )
        if on
    ]
    return flags + [f"ignore_changes={name}" for name in sorted(resource.ignore_changes)]


def properties(view: View, resource: Resource) -> list[Property]:
    """The security-relevant properties of one resource, normalised (see the module doc)."""
    found: list[Property] = [("options", _options(resource))]
    tags = resource.inputs.get("tags")
    if isinstance(tags, Mapping):
        found.append(("tag keys", sorted(tags)))
    for path in FLAGS.get(resource.type, ()):
        value = _get(resource.inputs, path)
        if not _absent(value):
            found.append((path, value))
    for path in REFERENCES.get(resource.type, ()):
        value = _get(resource.inputs, path)
        if not _absent(value):
            found.append((path, view.ref(value)))
    special = SPECIAL.get(resource.type)
    if special is not None:
        found.extend(special(view, resource))
    return found


# --- per-deployment choices -------------------------------------------------------------------

HTTPS_LISTENER = "aws:lb/listener:Listener"
CERTIFICATE = "aws:acm/certificate:Certificate"
CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
IMAGE_BUILD = "docker-build:index:Image"


def _is_set(stack: Mapping[str, Any], key: str) -> bool:
    return stack.get(key) not in (None, "")


def _listener_certificates(view: View) -> list[Resource]:
    """The ACM certificates of this stack that an HTTPS listener presents."""
    found = []
    for listener in view.graph.of_type(HTTPS_LISTENER):
        target = view.index.get(str(listener.inputs.get("certificateArn")))
        if target is not None and target.type == CERTIFICATE:
            found.append(target)
    return found


def _dependency_closure(view: View, start: Resource, prefix: str) -> list[Resource]:
    """`start` and what it depends on, transitively, among resources whose type has `prefix`."""
    by_urn = {r.urn: r for r in view.graph}
    seen, todo = {start.urn: start}, [start]
    while todo:
        for dep in todo.pop().dependencies:
            target = by_urn.get(dep)
            if target is not None and target.type.startswith(prefix) and dep not in seen:
                seen[dep] = target
                todo.append(target)
    return list(seen.values())


def _self_signed(view: View, stack: Mapping[str, Any]) -> list[Resource]:
    """The imported certificate the listener presents, with the tls key and cert it came from."""
    for cert in _listener_certificates(view):
        group = [cert, *_dependency_closure(view, cert, "tls:")[1:]]
        if "certificateBody" in cert.inputs and any(
            r.type == "tls:index/selfSignedCert:SelfSignedCert" for r in group
        ):
            return group
    return []


def _dns_certificate(view: View, stack: Mapping[str, Any]) -> list[Resource]:
    """The DNS-validated certificate for payment:domainName, and its validation."""
    for cert in _listener_certificates(view):
        if cert.inputs.get("domainName") == stack.get("payment:domainName"):
            arns = {cert.id, cert.state.get("arn")}
            checks = [
                r
                for r in view.graph.of_type(CERTIFICATE_VALIDATION)
                if r.inputs.get("certificateArn") in arns
            ]
            return [cert, *checks]
    return []


def _alert_subscription(view: View, stack: Mapping[str, Any]) -> list[Resource]:
    """The e-mail subscription of payment:alertEmail's address on the alerts topic.

    An encrypted (`secure:`) address cannot be read offline: then any e-mail subscription on
    the alerts topic is the one it chose.
    """
    topic = view.graph.outputs.get("alerts_topic_arn")
    address = stack.get("payment:alertEmail")
    return [
        r
        for r in view.graph.of_type(SUBSCRIPTION)
        if r.inputs.get("protocol") == "email"
        and r.inputs.get("topic") == topic
        and (r.inputs.get("endpoint") == address or not isinstance(address, str))
    ]


def _image_build(view: View, stack: Mapping[str, Any]) -> list[Resource]:
    """The image built here and pushed to this stack's own repository."""
    repository = view.graph.outputs.get("repository_url")
    return [
        r
        for r in view.graph.of_type(IMAGE_BUILD)
        if repository and any(str(t).startswith(f"{repository}:") for t in _as_list(r.get("tags")))
    ]


@dataclass(frozen=True)
class Choice:
    """Resources that exist exactly when a stack key says so: per deployment, not per environment.

    Where `applies(stack config)` holds, `select` must find them, and the shape leaves them out
    naming `condition`; elsewhere nothing is left out, so any such resource is a difference.
    """

    what: str
    condition: str
    applies: Callable[[Mapping[str, Any]], bool]
    select: Callable[[View, Mapping[str, Any]], list[Resource]]


CHOICES = (
    Choice(
        "a self-signed certificate imported into ACM for the HTTPS listener",
        "neither payment:certificateArn nor payment:domainName is set",
        lambda s: not _is_set(s, "payment:certificateArn") and not _is_set(s, "payment:domainName"),
        _self_signed,
    ),
    Choice(
        "a DNS-validated ACM certificate for that domain on the HTTPS listener",
        "payment:domainName is set and payment:certificateArn is not",
        lambda s: _is_set(s, "payment:domainName") and not _is_set(s, "payment:certificateArn"),
        _dns_certificate,
    ),
    Choice(
        "an e-mail subscription of that address to the alerts topic",
        "payment:alertEmail is set",
        lambda s: _is_set(s, "payment:alertEmail"),
        _alert_subscription,
    ),
    Choice(
        "the service image built here and pushed to this stack's repository",
        "payment:imageUri is not set",
        lambda s: not _is_set(s, "payment:imageUri"),
        _image_build,
    ),
)


def _choices(view: View, stack: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """What each choice leaves out (urn -> reason naming the stack key), and what is missing.

    Missing: a choice whose key says its resources exist, but the graph has none of them.
    """
    excluded: dict[str, str] = {}
    missing: list[str] = []
    for choice in CHOICES:
        if not choice.applies(stack):
            continue
        chosen = choice.select(view, stack)
        if not chosen:
            missing.append(
                f"choice {view.graph.env}: {choice.condition}, but {choice.what} is missing"
            )
        for resource in chosen:
            excluded[resource.urn] = f"{choice.condition}: {choice.what}"
    return excluded, missing


# --- counted families, as functions of the profile --------------------------------------------


def _type_count(type_: str) -> Callable[[Graph], list[tuple[str, int]]]:
    def count(graph: Graph) -> list[tuple[str, int]]:
        return [(type_, len(graph.of_type(type_)))]

    return count


def _each(type_: str, path: str, where: str = "") -> Callable[[Graph], list[tuple[str, int]]]:
    """Per resource of `type_` (whose `where` input, `key=value`, matches): the input's size."""
    key, _, wanted = where.partition("=")

    def count(graph: Graph) -> list[tuple[str, int]]:
        found = []
        for r in graph.of_type(type_):
            value = _get(r.inputs, path)
            if value is None or (key and r.inputs.get(key) != wanted):
                continue
            found.append((f"{r.name} {path}", value if isinstance(value, int) else len(value)))
        return found

    return count


@dataclass(frozen=True)
class CountRule:
    """A family whose size the profile decides: `formula`, as `expected` computes it."""

    what: str
    formula: str
    expected: Callable[[Profile], int]
    found: Callable[[Graph], list[tuple[str, int]]]


_AZS = "network.az_count"
COUNT_RULES = (
    CountRule(
        "subnets",
        f"2 x {_AZS}",
        lambda p: 2 * p.network.az_count,
        _type_count("aws:ec2/subnet:Subnet"),
    ),
    CountRule(
        "route tables",
        f"1 + {_AZS}",
        lambda p: 1 + p.network.az_count,
        _type_count("aws:ec2/routeTable:RouteTable"),
    ),
    CountRule(
        "route table associations",
        f"2 x {_AZS}",
        lambda p: 2 * p.network.az_count,
        _type_count("aws:ec2/routeTableAssociation:RouteTableAssociation"),
    ),
    CountRule(
        "S3 gateway endpoint route tables",
        _AZS,
        lambda p: p.network.az_count,
        _each("aws:ec2/vpcEndpoint:VpcEndpoint", "routeTableIds", "vpcEndpointType=Gateway"),
    ),
    CountRule(
        "interface endpoint subnets",
        "network.endpoint_az_count",
        lambda p: p.network.endpoint_az_count,
        _each("aws:ec2/vpcEndpoint:VpcEndpoint", "subnetIds", "vpcEndpointType=Interface"),
    ),
    CountRule(
        "database subnet-group subnets",
        _AZS,
        lambda p: p.network.az_count,
        _each("aws:rds/subnetGroup:SubnetGroup", "subnetIds"),
    ),
    CountRule(
        "cache subnet-group subnets",
        _AZS,
        lambda p: p.network.az_count,
        _each("aws:elasticache/subnetGroup:SubnetGroup", "subnetIds"),
    ),
    CountRule(
        "load balancer subnets",
        _AZS,
        lambda p: p.network.az_count,
        _each("aws:lb/loadBalancer:LoadBalancer", "subnets"),
    ),
    CountRule(
        "service subnets",
        _AZS,
        lambda p: p.network.az_count,
        _each("aws:ecs/service:Service", "networkConfiguration.subnets"),
    ),
    CountRule(
        "Aurora instances",
        "1 + database.reader_count",
        lambda p: 1 + p.database.reader_count,
        _type_count("aws:rds/clusterInstance:ClusterInstance"),
    ),
    CountRule(
        "Redis nodes",
        "1 + cache.replica_count",
        lambda p: 1 + p.cache.replica_count,
        _each("aws:elasticache/replicationGroup:ReplicationGroup", "numCacheClusters"),
    ),
    CountRule(
        "Redis node AZs",
        "1 + cache.replica_count",
        lambda p: 1 + p.cache.replica_count,
        _each("aws:elasticache/replicationGroup:ReplicationGroup", "preferredCacheClusterAzs"),
    ),
)


def count_problems(graph: Graph, profile: Profile) -> list[str]:
    """Every counted family whose size is not what the profile gives it (extra code included)."""
    problems = []
    for rule in COUNT_RULES:
        expected = rule.expected(profile)
        for label, found in rule.found(graph):
            if found != expected:
                problems.append(
                    f"count {graph.env}: {rule.what} ({label}) = {found}, "
                    f"but the profile gives {rule.formula} = {expected}"
                )
    return problems


# --- the shape and the difference -------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """Families with counts, wiring and normalised properties; and `problems`.

    Problems: where the graph does not meet its profile (counts) or its stack config (choices).
    """

    families: Counter[str]
    edges: frozenset[str]
    properties: frozenset[tuple[str, str]] = frozenset()  # (family, "property = value")
    excluded: Mapping[str, str] = field(default_factory=dict)  # family -> stack key and why
    problems: tuple[str, ...] = ()


def _edges(view: View, kept: Mapping[str, Resource]) -> set[str]:
    edges = set()
    for resource in kept.values():
        key = view.key(resource)
        if resource.parent is not None and resource.parent in kept:
            edges.add(f"{key} <parent- {view.key(kept[resource.parent])}")
        for dep in resource.dependencies:
            # An edge inside one counted family (a reader waiting for the writer) exists only
            # when the count is above one: it is a count, not a difference in wiring.
            if dep in kept and view.key(kept[dep]) != key:
                edges.add(f"{key} -depends-> {view.key(kept[dep])}")
    return edges


def shape(
    graph: Graph,
    stack: Mapping[str, Any] | None = None,
    *,
    root: Path = ROOT,
    suffixes: Iterable[str] = (),
) -> Shape:
    """The shape of one environment's graph.

    `stack` is the stack config the graph was recorded with (default: the committed
    Pulumi.<env>.yaml with the graph's suffix, under `root`); it decides the per-deployment
    exclusions and, through the profile it loads, the expected counts. `suffixes` are folded
    besides the graph's own, so that two environments compare with the same tokens folded.
    """
    stack = dict(stack) if stack is not None else stack_config(graph.env, graph.suffix, root)
    view = View.of(graph, suffixes)
    excluded, problems = _choices(view, stack)
    kept = {r.urn: r for r in graph if r.urn not in excluded}
    profile = config.load(stack, stack_file=f"Pulumi.{graph.env}.yaml", root=root)
    problems += count_problems(graph, profile)
    props = {
        (view.key(r), f"{name} = {_text(value)}")
        for r in kept.values()
        for name, value in properties(view, r)
    }
    return Shape(
        families=Counter(view.key(r) for r in kept.values()),
        edges=frozenset(_edges(view, kept)),
        properties=frozenset(props),
        excluded={view.key(graph.by_urn(urn)): why for urn, why in excluded.items()},
        problems=tuple(problems),
    )


def differences(
    a: Graph,
    b: Graph,
    *,
    config_a: Mapping[str, Any] | None = None,
    config_b: Mapping[str, Any] | None = None,
    root: Path = ROOT,
) -> list[str]:
    """Readable lines for everything in one environment's shape and not the other's.

    Both shapes fold both suffixes, so a suffix that is also a word of some name (`rt`, `api`)
    folds alike on each side. Count and choice problems are reported for each environment on
    its own: an extra instance added in code is a difference even where both have it.
    """
    folds = (a.suffix, b.suffix)
    sa = shape(a, config_a, root=root, suffixes=folds)
    sb = shape(b, config_b, root=root, suffixes=folds)
    lines = []
    for fam in sorted(set(sa.families) ^ set(sb.families)):
        where = a.env if fam in sa.families else b.env
        lines.append(f"resource {fam} only in {where}")
    for edge in sorted(sa.edges ^ sb.edges):
        where = a.env if edge in sa.edges else b.env
        lines.append(f"wiring {edge} only in {where}")
    common = set(sa.families) & set(sb.families)
    for fam, prop in sorted(p for p in sa.properties ^ sb.properties if p[0] in common):
        where = a.env if (fam, prop) in sa.properties else b.env
        lines.append(f"property {fam}: {prop} only in {where}")
    return lines + list(sa.problems) + list(sb.problems)


def counts(graph: Graph) -> dict[str, int]:
    """Family -> count, for showing how environments differ in size."""
    return dict(shape(graph).families)
