"""Keys: rotation, deletion window, aliases, key policies naming exactly the services using them."""

from __future__ import annotations

import fnmatch
from typing import Any

import pytest

from guardrails.facts import as_list
from offline.mocks import ACCOUNT_ID, REGION
from payment_platform import keys, logs
from resource_graph import Graph
from tests.conftest import Graphs, load_profile

KEY = "aws:kms/key:Key"
ROOT = f"arn:aws:iam::{ACCOUNT_ID}:root"


@pytest.fixture
def graph(graphs: Graphs, env: str) -> Graph:
    return graphs.builder("keys", env, keys.build)


# Not facts.statements: a key policy without a Statement list must fail here, not read as [].
def statements(graph, family: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = graph.one(KEY, f"{family}-key").policy()["Statement"]
    return found


def by_service(graph, family: str, service: str) -> list[dict[str, Any]]:
    return [s for s in statements(graph, family) if s["Principal"].get("Service") == service]


def test_every_key_rotates_and_has_the_shortest_deletion_window(graph):
    found = graph.of_type(KEY)
    assert {k.name for k in found} == {"data-key", "messaging-key", "logs-key"}
    for key in found:
        assert key.inputs["enableKeyRotation"] is True, key.name
        assert key.inputs["deletionWindowInDays"] == 7, key.name
        assert graph.concern(key) == "keys"


def test_each_key_has_its_alias_from_the_profile(graph, env):
    profile = load_profile(env)
    for family in ("data", "messaging", "logs"):
        alias = graph.one("aws:kms/alias:Alias", f"{family}-key-alias")
        assert alias.inputs["name"] == f"alias/{profile.name(f'{family}-key')}"
        assert alias.inputs["targetKeyId"] == graph.one(KEY, f"{family}-key").state["keyId"]
        assert alias.delete_before_replace


def test_no_wildcard_principal_and_no_bare_wildcard_action(graph):
    for family in ("data", "messaging", "logs"):
        for statement in statements(graph, family):
            principal = statement["Principal"]
            assert principal != "*" and "*" not in as_list(principal.get("AWS", [])), statement
            assert "*" not in as_list(statement["Action"]), statement
            assert statement["Effect"] == "Allow"


def test_account_root_administers_but_uses_keys_only_through_named_services(graph):
    for family in ("data", "messaging", "logs"):
        root = [s for s in statements(graph, family) if s["Principal"].get("AWS") == ROOT]
        admin = [s for s in root if "Condition" not in s]
        assert len(admin) == 1
        assert "kms:ScheduleKeyDeletion" in admin[0]["Action"]
        assert "kms:PutKeyPolicy" not in admin[0]["Action"]  # covered by kms:Put*
        assert "kms:Put*" in admin[0]["Action"]
        crypto = {"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"}
        assert not crypto & set(admin[0]["Action"]), "unconditioned crypto use for the account"
        for statement in root:
            if "Condition" in statement:
                assert statement["Condition"]["StringEquals"]["kms:CallerAccount"] == ACCOUNT_ID


def via_services(graph, family: str) -> set[str]:
    found: set[str] = set()
    for statement in statements(graph, family):
        condition = statement.get("Condition", {}).get("StringEquals", {})
        found |= set(as_list(condition.get("kms:ViaService", [])))
    return found


def test_data_key_is_used_through_the_data_services_only(graph):
    expected = {"rds", "elasticache", "secretsmanager", "s3", "ecr"}
    assert via_services(graph, "data") == {f"{s}.{REGION}.amazonaws.com" for s in expected}
    assert not [s for s in statements(graph, "data") if "Service" in s["Principal"]]


def test_messaging_key_serves_sqs_sns_and_alarms(graph, env):
    profile = load_profile(env)
    assert via_services(graph, "messaging") == {
        f"sqs.{REGION}.amazonaws.com",
        f"sns.{REGION}.amazonaws.com",
    }
    (alarms,) = by_service(graph, "messaging", "cloudwatch.amazonaws.com")
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(alarms["Action"])
    assert alarms["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT_ID
    (sns,) = by_service(graph, "messaging", "sns.amazonaws.com")
    topics = set(as_list(sns["Condition"]["ArnLike"]["aws:SourceArn"]))
    assert f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:{profile.name('events')}" in topics


def test_logs_key_covers_every_log_group_of_this_environment_only(graph, env):
    profile = load_profile(env)
    (stmt,) = by_service(graph, "logs", f"logs.{REGION}.amazonaws.com")
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(stmt["Action"])
    patterns = as_list(stmt["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"])

    def covered(name: str) -> bool:
        arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}"
        return any(fnmatch.fnmatchcase(arn, p) for p in patterns)

    for name in logs.group_names(profile).values():
        assert covered(name), name
    other = load_profile("dev" if env != "dev" else "prod")
    assert not any(covered(name) for name in logs.group_names(other).values())


def test_no_environment_key_serves_cloudtrail(graph):
    # The trail and the key it encrypts with belong to the account project (account/): an
    # environment's key that CloudTrail could use would outlive the reason for its grant.
    for family in ("data", "messaging", "logs"):
        assert not by_service(graph, family, "cloudtrail.amazonaws.com"), family
