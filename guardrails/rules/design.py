"""Design rules: the project's own invariants, and the controls they override or span.

- `deletion-safeguards`: deletion protection and Object Lock, as the security baseline asks;
  waived in `guardrails.waivers` where the stack's data is not protected (`protect_data`).
- `standard-tags`: every taggable resource carries the standard tags, with the right values.
- `physical-names`: explicit names follow `payment-{service}-{suffix}`, fit their limit, and
  replace by deleting first; a resource still in use while it is replaced (a target group, a
  parameter group) instead carries a replacement token and is created before the old one goes.
- `destroyable`: no protection, no retain, no final snapshot, force delete, shortest windows; where
  the stack exports `protect_data` true, the database and the transaction and audit buckets are
  held to the opposite (protected, deletion protection, a final snapshot) and the rest still
  destroys cleanly.
- `high-availability`: where the stack exports `high_availability` (or `production`): tasks
  across AZs, Aurora readers apart from the writer, Redis failover and multi-AZ.
- `tls-in-transit`: one rule across the data stores: Aurora `rds.force_ssl`, Redis in-transit
  encryption, deny-non-TLS in every bucket, queue and topic policy. The listener's TLS policy and
  the HTTP redirect belong to `edge-listeners`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from conventions import naming, tags
from guardrails import facts
from guardrails.facts import (
    BUCKETS,
    CLUSTER,
    HIGH_AVAILABILITY,
    INSTANCE,
    LOG_GROUP,
    REPLICATION_GROUP,
    SECRET,
    as_list,
    cluster_instances,
    cluster_parameters,
    deployment_flag,
    has_replicas,
    load_balancers,
    ref,
)
from guardrails.model import Violation
from guardrails.rules.base import Findings, is_true, rule
from resource_graph import Graph, Resource


@rule(
    "deletion-safeguards",
    "Deletion protection and Object Lock (waived: environments are destroyable)",
    "RDS.7",
    "ELB.6",
    "S3.15",
)
def deletion_safeguards(graph: Graph) -> list[Violation]:
    """States the baseline's deletion controls as Security Hub would, so the waiver is explicit."""
    f = Findings("deletion-safeguards")
    for cluster in graph.of_type(CLUSTER):
        f.require(
            is_true(cluster.get("deletionProtection")), cluster, "deletion protection off", "RDS.7"
        )
    for lb in load_balancers(graph):
        f.require(
            is_true(lb.get("enableDeletionProtection")), lb, "deletion protection off", "ELB.6"
        )
    for bucket in graph.of_type(*facts.BUCKETS):
        f.require(is_true(bucket.get("objectLockEnabled")), bucket, "Object Lock off", "S3.15")
    return f.items


@rule(
    "standard-tags",
    "Every taggable resource carries the 8 standard tags",
    "DESIGN tags",
    "PCI DSS 12.5.1",
)
def standard_tags(graph: Graph) -> list[Violation]:
    """Every resource is attributable to its project, environment, owner and data class."""
    f = Findings("standard-tags")
    expected = {
        "Project": tags.FIXED_TAGS["Project"],
        "Environment": graph.env,
        "EnvironmentSuffix": graph.suffix,
        "ManagedBy": tags.FIXED_TAGS["ManagedBy"],
    }
    for r in graph.resources:
        if not r.custom or not tags.is_taggable(r.type):
            continue
        have = r.get("tags") or {}
        missing = [k for k in tags.STANDARD_TAG_KEYS if not have.get(k)]
        wrong = [
            f"{k}={have.get(k)!r}" for k, v in expected.items() if have.get(k) and have.get(k) != v
        ]
        if missing or wrong:
            f.add(
                r, f"standard tags missing {missing} wrong {wrong}", "DESIGN tags", "PCI DSS 12.5.1"
            )
    return f.items


NAME_KEYS: dict[str, str] = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:s3/bucketV2:BucketV2": "bucket",
    "aws:rds/cluster:Cluster": "clusterIdentifier",
    "aws:rds/clusterInstance:ClusterInstance": "identifier",
    "aws:elasticache/replicationGroup:ReplicationGroup": "replicationGroupId",
    "aws:cloudwatch/dashboard:Dashboard": "dashboardName",
    "aws:ecs/taskDefinition:TaskDefinition": "family",
}
# `name` here is not an account-wide physical name: log group names are paths (and AWS fixes
# some: `/aws/rds/cluster/...`, `aws-waf-logs-...`); the rest are scoped to their parent.
NOT_PHYSICAL = {
    LOG_GROUP,
    "aws:iam/rolePolicy:RolePolicy",
    "aws:appautoscaling/policy:Policy",
    "aws:cloudwatch/logStream:LogStream",
}


def physical_name(r: Resource) -> str | None:
    """The explicit physical name a resource was given (None when AWS or Pulumi picks it)."""
    if not r.custom or not r.type.startswith("aws:") or r.type in NOT_PHYSICAL:
        return None
    value = r.get(NAME_KEYS.get(r.type, "name"))
    if not isinstance(value, str) or not value:
        return None
    # NOTE: under the engine (CrossGuard), Pulumi auto-names show up as `<logical>-<7 hex>`;
    # they are not explicit names and collide with nothing.
    if re.fullmatch(re.escape(r.name) + r"-[0-9a-f]{7}", value):
        return None
    return value.removeprefix("alias/") if r.type == "aws:kms/alias:Alias" else value


REVISIONED = {"aws:ecs/taskDefinition:TaskDefinition"}
# NOTE: replaced while its user is only updated (a listener forwards to the target group; the
# cluster or replication group names the parameter group): delete-first replacement fails
# (ResourceInUse / Invalid...ParameterGroupState), so these need a name that changes with every
# replacement (payment_platform/replaceable.py) and create-before-delete.
IN_USE_WHEN_REPLACED = {
    "aws:lb/targetGroup:TargetGroup",
    "aws:rds/clusterParameterGroup:ClusterParameterGroup",
    "aws:rds/parameterGroup:ParameterGroup",
    "aws:elasticache/parameterGroup:ParameterGroup",
}


def _core(r: Resource, name: str) -> tuple[str, str | None]:
    """The name without what its type appends (account id, instance number, token), or why not."""
    if r.type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
        core, n = re.subn(r"-\d{12}$", "", name)
        if not n:
            return (
                name,
                f"bucket {name!r} does not end with the account id (bucket names are global)",
            )
        if len(name) > 63:
            return name, f"bucket {name!r} is {len(name)} characters, limit 63"
        return core, None
    if r.type == INSTANCE:
        return re.sub(r"-\d+$", "", name), None
    if r.type in IN_USE_WHEN_REPLACED:
        core, n = naming.REPLACEMENT_TOKEN_PATTERN.subn("", name)
        if not n:
            return name, f"{name!r} has no replacement token (it is replaced while still in use)"
        return core, None
    return name, None


def name_problem(r: Resource, name: str, suffix: str) -> str | None:
    """Why a physical name breaks `payment-{service}-{suffix}` or its limit (None if it fits).

    The account graph (suffix `account`) names its resources `payment-account-<service>`.
    """
    core, problem = _core(r, name)
    if problem:
        return problem
    if suffix == naming.ACCOUNT_SCOPE:
        if not core.startswith(naming.ACCOUNT_PREFIX):
            return f"{name!r} does not follow {naming.ACCOUNT_PREFIX}{{service}}"
        return None
    prefix = f"{naming.PROJECT}-"
    if not core.startswith(prefix) or not core.endswith(f"-{suffix}"):
        return f"{name!r} does not follow payment-{{service}}-{suffix}"
    service = core[len(prefix) : -len(suffix) - 1]
    entry = naming.NAMES.get(service)
    if entry is None:
        return f"{name!r}: service {service!r} is not in conventions.naming.NAMES"
    if len(core) > entry.limit:
        return f"{name!r} is {len(core)} characters, limit {entry.limit} ({entry.resource})"
    return None


@rule(
    "physical-names",
    "Physical names follow payment-{service}-{suffix}, fit their limit, replace safely",
    "DESIGN naming",
)
def physical_names(graph: Graph) -> list[Violation]:
    """Environments side by side never collide on a name, and a replacement never fails on one."""
    f = Findings("physical-names")
    for r in graph.resources:
        name = physical_name(r)
        if name is None:
            continue
        problem = name_problem(r, name, graph.suffix)
        if problem:
            f.add(r, problem, "DESIGN naming")
        # NOTE: an explicit name cannot exist twice, so a replacement must delete first. A task
        # definition family is the exception: a replacement is a new revision of the same family.
        if r.type in IN_USE_WHEN_REPLACED:
            f.require(
                not r.delete_before_replace,
                r,
                f"{name!r} is deleted before its replacement exists, while still in use",
                "DESIGN naming",
            )
            continue
        f.require(
            r.delete_before_replace or r.type in REVISIONED,
            r,
            f"named {name!r} without delete_before_replace",
            "DESIGN naming",
        )
    return f.items


# The stack output that says the environment's data must outlive `pulumi destroy`.
PROTECT_DATA = "protect_data"
DESTROYABLE = "DESIGN destroyable"


def protects_data(graph: Graph) -> bool:
    """Whether the stack exports `protect_data` true: its data is kept, not destroyable.

    Unlike `deployment_flag`, missing or unknown counts as false: protection is the exception an
    operator switches on, and a stack that does not say so must destroy cleanly.
    """
    value = graph.outputs.get(PROTECT_DATA)
    return value is True or str(value).lower() == "true"


def access_log_buckets(graph: Graph) -> list[Resource]:
    """The buckets that receive S3 server access logs: the audit trail of the data buckets."""
    targets = {
        lg.get("targetBucket")
        for lg in graph.resources
        if lg.type.startswith("aws:s3/bucketLogging")
    }
    return [b for b in graph.of_type(*BUCKETS) if facts.bucket_name(b) in targets]


def protected_data(graph: Graph) -> list[Resource]:
    """What `protect_data` keeps: the clusters and their instances, the transaction-log buckets
    and the audit (access-log) buckets. Instances count: destroy deletes them before the cluster.
    """
    found = [*graph.of_type(CLUSTER, INSTANCE), *facts.transaction_buckets(graph)]
    found += [b for b in access_log_buckets(graph) if b not in found]
    return found


def _destroys_cleanly(f: Findings, graph: Graph, kept: set[str]) -> None:
    """Every resource not in `kept` (URNs) goes with `pulumi destroy` and frees its name."""
    d = DESTROYABLE
    for r in (r for r in graph.resources if r.urn not in kept):
        f.require(not r.protect, r, "protect=True", d)
        f.require(not r.retain_on_delete, r, "retain_on_delete=True", d)
        for flag in ("deletionProtection", "enableDeletionProtection"):
            f.require(not is_true(r.get(flag)), r, f"{flag} on", d)
        if r.type == CLUSTER:
            f.require(is_true(r.get("skipFinalSnapshot")), r, "takes a final snapshot", d)
        elif r.type in BUCKETS:
            f.require(is_true(r.get("forceDestroy")), r, "not force_destroy", d)
            f.require(not is_true(r.get("objectLockEnabled")), r, "Object Lock on", d)
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(not group.get("finalSnapshotIdentifier"), group, "takes a final snapshot", d)
    for repo in graph.of_type("aws:ecr/repository:Repository"):
        f.require(is_true(repo.get("forceDelete")), repo, "not force_delete", d)
    for secret in graph.of_type(SECRET):
        f.require(
            secret.get("recoveryWindowInDays") == 0,
            secret,
            f"recovery window {secret.get('recoveryWindowInDays')} (name stays reserved)",
            d,
        )
    for kms in graph.of_type(facts.KMS_KEY):
        f.require(
            kms.get("deletionWindowInDays") == 7,
            kms,
            f"deletion window {kms.get('deletionWindowInDays')} days, not the shortest (7)",
            d,
        )
    for td in graph.of_type("aws:ecs/taskDefinition:TaskDefinition"):
        f.require(not is_true(td.get("skipDestroy")), td, "skip_destroy keeps revisions", d)


def _keeps_data(f: Findings, kept: list[Resource]) -> None:
    """The protected data refuses `pulumi destroy` and, deleted anyway, leaves a snapshot."""
    d = DESTROYABLE
    for r in kept:
        f.require(r.protect, r, "protect_data is on but the resource is not protect=True", d)
        if r.type == CLUSTER:
            f.require(is_true(r.get("deletionProtection")), r, "deletion protection off", d)
            f.require(
                not is_true(r.get("skipFinalSnapshot")) and bool(r.get("finalSnapshotIdentifier")),
                r,
                "no final snapshot (skip_final_snapshot, or no final_snapshot_identifier)",
                d,
            )
            # NOTE: delete_automated_backups defaults to true: unset, the backups go with it.
            f.require(
                r.get("deleteAutomatedBackups") is False, r, "automated backups deleted with it", d
            )
        elif r.type in BUCKETS:
            f.require(not is_true(r.get("forceDestroy")), r, "force_destroy empties it", d)


@rule(
    "destroyable",
    "Everything destroys cleanly (with protect_data: everything but the protected data)",
    DESTROYABLE,
)
def destroyable(graph: Graph) -> list[Violation]:
    """`pulumi destroy` removes every environment completely and frees every name at once.

    A stack exporting `protect_data` true keeps its database and transaction and audit buckets
    instead; everything else still destroys cleanly.
    """
    f = Findings("destroyable")
    kept = protected_data(graph) if protects_data(graph) else []
    _destroys_cleanly(f, graph, {r.urn for r in kept})
    _keeps_data(f, kept)
    return f.items


def _azs(graph: Graph, subnet_ids: Iterable[Any]) -> set[str]:
    zones = set()
    for sid in subnet_ids:
        subnet = ref(graph, sid)
        # A subnet is placed by AZ ID (the same zone in every account) or by name.
        zone = (
            subnet.get("availabilityZoneId") or subnet.get("availabilityZone") if subnet else None
        )
        if zone:
            zones.add(str(zone))
    return zones


HA = "DESIGN high availability"


def _services_spread(f: Findings, graph: Graph) -> None:
    """Tasks run in two AZs or more, and a service behind the ALB keeps two tasks."""
    for service in graph.of_type("aws:ecs/service:Service"):
        subnets = as_list((service.get("networkConfiguration") or {}).get("subnets"))
        zones = _azs(graph, subnets)
        f.require(
            len(subnets) >= 2 and len(zones) >= 2,
            service,
            f"tasks in {len(subnets)} subnet(s) / {len(zones)} AZ(s); needs 2 or more",
            HA,
        )
        if as_list(service.get("loadBalancers")):
            desired = service.get("desiredCount")
            f.require(
                desired is None or int(desired) >= 2, service, f"desired count {desired} (< 2)", HA
            )


def _aurora_readers(f: Findings, graph: Graph) -> None:
    """Every cluster has a reader, pinned to another AZ than the writer, to fail over to."""
    for cluster in graph.of_type(CLUSTER):
        instances = cluster_instances(graph, cluster)
        if not instances:
            f.add(cluster, "no instances", HA, "RDS.15")
            continue
        writer, readers = instances[0], instances[1:]  # Aurora makes the first instance the writer
        f.require(bool(readers), cluster, "no reader to fail over to", HA, "RDS.15")
        for reader in readers:
            f.require(
                bool(reader.get("availabilityZone")), reader, "reader not pinned to an AZ", HA
            )
        _reader_apart(f, writer, readers)


def _reader_apart(f: Findings, writer: Resource, readers: list[Resource]) -> None:
    """At least one reader in another AZ than the writer: the failover target.

    More readers than AZs must share an AZ, so a reader beside the writer is fine as long as
    another one is apart.
    """
    zone = writer.get("availabilityZone")
    if any(r.get("availabilityZone") not in (None, "", zone) for r in readers):
        return
    for reader in readers:
        f.add(
            reader,
            f"reader AZ {reader.get('availabilityZone')} not pinned apart from writer's {zone}",
            HA,
            "RDS.15",
        )


@rule(
    "high-availability",
    "High availability: tasks across AZs, Aurora readers in other AZs, Redis failover, multi-AZ",
    HA,
    "RDS.15",
    "ElastiCache.3",
)
def high_availability(graph: Graph) -> list[Violation]:
    """A highly available environment keeps serving through the loss of one Availability Zone.

    Keyed on the exported `high_availability` flag, not on the environment's name.
    """
    f = Findings("high-availability")
    if not deployment_flag(graph, HIGH_AVAILABILITY):
        return []
    _services_spread(f, graph)
    _aurora_readers(f, graph)
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            has_replicas(group)
            and is_true(group.get("automaticFailoverEnabled"))
            and is_true(group.get("multiAzEnabled")),
            group,
            "needs replicas with automatic failover and multi-AZ",
            HA,
            "ElastiCache.3",
        )
    return f.items


@rule(
    "tls-in-transit",
    "TLS in transit: Aurora force_ssl, Redis transit encryption, bucket/queue/topic deny non-TLS",
    "PCI DSS 4.2.1",
    "ElastiCache.5",
    "S3.5",
    "SQS.3",
    "SNS.4",
)
def tls_in_transit(graph: Graph) -> list[Violation]:
    """Card data never crosses a network in clear text, whichever store it travels to."""
    f = Findings("tls-in-transit")
    for cluster in graph.of_type(CLUSTER):
        params = cluster_parameters(graph, cluster)
        f.require(
            params is not None and params.get("rds.force_ssl") == "1",
            cluster,
            "cluster parameter group does not set rds.force_ssl=1",
            "PCI DSS 4.2.1",
        )
    for group in graph.of_type(REPLICATION_GROUP):
        f.require(
            is_true(group.get("transitEncryptionEnabled"))
            and group.get("transitEncryptionMode") in (None, "required"),
            group,
            f"in-transit encryption not required (mode {group.get('transitEncryptionMode')})",
            "ElastiCache.5",
            "PCI DSS 4.2.1",
        )
    checks: list[tuple[list[Resource], Callable[[Graph, Resource], list[Any]], str]] = [
        (graph.of_type(*facts.BUCKETS), facts.bucket_policies, "S3.5"),
        (graph.of_type(facts.QUEUE), facts.queue_policies, "SQS.3"),
        (graph.of_type(facts.TOPIC), facts.topic_policies, "SNS.4"),
    ]
    for resources, policies, control in checks:
        for r in resources:
            f.require_any(
                policies(graph, r),
                facts.denies_insecure_transport,
                r,
                "policy does not deny requests without TLS (aws:SecureTransport false)",
                control,
                "PCI DSS 4.2.1",
            )
    return f.items
