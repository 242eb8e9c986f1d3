"""The guardrails: every row of the security baseline, plus the design's own invariants.

Each rule reads the recorded graph (inputs by Pulumi wire name, references resolved by id or
ARN) and returns one Violation per failed property, naming the resource, the reason and the
controls (Security Hub FSBP ids, PCI DSS requirements, cdk-nag rule names). Deliberate
exceptions are not decided here but in `guardrails.waivers`, so a rule states the control as
Security Hub would and the waiver says, once, why the mission overrides it.

One module per concern (network, edge, compute, database, cache, messaging, keys, secrets, iam,
logging, audit, storage, design); `base` holds what they share. `RULES` lists every rule in the
order violations are reported.
"""

from __future__ import annotations

from guardrails.model import Rule
from guardrails.rules import (
    audit,
    cache,
    compute,
    database,
    design,
    edge,
    iam,
    keys,
    logging,
    messaging,
    network,
    secrets,
    storage,
)
from guardrails.rules.network import endpoint_services

__all__ = ["RULES", "endpoint_services"]

RULES: list[Rule] = [
    network.subnets_no_public_ip,
    network.vpc_flow_logs,
    network.default_security_group,
    network.network_ingress,
    network.network_egress,
    network.network_endpoints,
    network.network_endpoint_policies,
    network.no_nat_gateway,
    network.no_internet_route,
    edge.alb_headers,
    edge.alb_access_logs,
    edge.alb_multi_az,
    edge.edge_listeners,
    edge.edge_waf,
    compute.compute_cluster,
    compute.compute_containers,
    compute.compute_secrets_logging,
    compute.compute_data_credentials,
    compute.compute_roles_network,
    compute.compute_capacity,
    compute.compute_ecr,
    compute.compute_deployments,
    compute.compute_scaling,
    database.database_protection,
    database.database_resilience,
    database.database_credentials,
    cache.cache_encryption,
    cache.cache_iam_auth,
    cache.cache_resilience,
    messaging.messaging_encryption,
    messaging.messaging_policies,
    keys.customer_keys,
    secrets.managed_secrets,
    iam.iam_policies,
    iam.iam_data_connect,
    iam.iam_task_grants,
    logging.logging_log_groups,
    logging.logging_alarms,
    logging.required_alarms,
    audit.audit_trail,
    audit.audit_account_trail,
    storage.storage_buckets,
    design.deletion_safeguards,
    design.standard_tags,
    design.physical_names,
    design.destroyable,
    design.high_availability,
    design.tls_in_transit,
]
