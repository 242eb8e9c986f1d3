"""The identity check catches what environments must not differ in, each from a real mutation.

Every test changes the program (a builder patched the way a careless edit would change it) or
the stack config, records the environment, and asserts that `differences` reports it in a line
a reviewer can read. The expected lines name resources and stack keys, never a count or value
copied from an environment file.
"""

from __future__ import annotations

import difflib
import runpy
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls
import pytest

import payment_platform.compute.image as image_builder
import payment_platform.database as database_builder
import payment_platform.edge as edge_builder
import payment_platform.messaging as messaging_builder
from config import Profile
from offline.recorder import ROOT, record, run_program, stack_config
from offline.shape import count_problems, differences, family, fold_tokens, shape
from offline.snapshot import render
from tests.conftest import ENVIRONMENTS, Graphs, load_profile

CERTIFICATE_ARN = (
    "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
)
IMAGE_URI = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/payment-api-ci:{'b' * 12}"


def _deployment(profile: Profile, **changes: Any) -> Profile:
    """The profile with some per-deployment values changed, as a builder bug would see it."""
    return profile.model_copy(update={"deployment": profile.deployment.model_copy(update=changes)})


def _wrap(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, after: Callable[..., Any]
) -> None:
    """Patch `module.name` so that `after(original, *args)` runs in its place."""
    original = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *args: after(original, *args))


# --- the holes: each must now be a difference --------------------------------------------------


def test_an_email_subscription_to_an_outside_address_in_one_environment_is_a_difference(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def copy_events_in_production(original: Any, profile: Profile, *args: Any) -> Any:
        pair = original(profile, *args)
        if profile.deployment.production:
            _keys, events, scope = args
            aws.sns.TopicSubscription(
                "events-archive",
                topic=events.arn,
                protocol="email",
                endpoint="archive@outside.example",
                opts=scope.child,
            )
        return pair

    _wrap(monkeypatch, messaging_builder, "_notifications", copy_events_in_production)
    diff = differences(dev, record("prod"))
    archive = "messaging:aws:sns/topicSubscription:TopicSubscription:events-archive"
    assert diff == [
        f"resource {archive} only in prod",
        f"wiring {archive} -depends-> messaging:aws:sns/topic:Topic:events only in prod",
        f"wiring {archive} <parent- messaging:payment:messaging:Messaging:messaging only in prod",
    ]


def test_a_tls_private_key_in_one_environment_is_a_difference(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def extra_key_in_production(original: Any, profile: Profile, opts: Any) -> Any:
        if profile.deployment.production:
            tls.PrivateKey("signing", algorithm="ECDSA", ecdsa_curve="P256", opts=opts)
        return original(profile, opts)

    _wrap(monkeypatch, edge_builder, "_certificate_arn", extra_key_in_production)
    diff = differences(dev, record("prod"))
    assert "resource edge:tls:index/privateKey:PrivateKey:signing only in prod" in diff
    # The self-signed certificate's own key is still left out: only the extra one shows.
    assert not [line for line in diff if "api-tls" in line]


def test_protect_and_retain_on_delete_in_one_environment_are_a_difference(
    graphs: Graphs,
) -> None:
    def protect_the_cluster(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "aws:rds/cluster:Cluster":
            return None
        extra = pulumi.ResourceOptions(protect=True, retain_on_delete=True)
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, extra)
        )

    def program() -> None:
        pulumi.runtime.register_stack_transformation(protect_the_cluster)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    prod = run_program(program, env="prod", config=stack_config("prod"))
    diff = differences(graphs.environment("dev"), prod)
    cluster = "database:aws:rds/cluster:Cluster:database"
    protected = '"delete_before_replace", "protect", "retain_on_delete"'
    ignored = '"ignore_changes=engineVersion"'
    assert set(diff) == {
        f"property {cluster}: options = [{protected}, {ignored}] only in prod",
        f'property {cluster}: options = ["delete_before_replace", {ignored}] only in dev',
    }


def test_an_extra_database_instance_added_in_code_is_a_difference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def one_instance_too_many(original: Any, profile: Profile, *args: Any) -> Any:
        database = profile.database.model_copy(
            update={"reader_count": profile.database.reader_count + 1}
        )
        return original(profile.model_copy(update={"database": database}), *args)

    _wrap(monkeypatch, database_builder, "_instances", one_instance_too_many)
    dev, prod = record("dev"), record("prod")
    diff = differences(dev, prod)
    # Every environment has the extra instance, so kinds and wiring agree; the count does not.
    assert [line for line in diff if not line.startswith("count ")] == []
    for graph in (dev, prod):
        readers = load_profile(graph.env).database.reader_count
        found = len(graph.of_type("aws:rds/clusterInstance:ClusterInstance"))
        assert (
            f"count {graph.env}: Aurora instances (aws:rds/clusterInstance:ClusterInstance) = "
            f"{found}, but the profile gives 1 + database.reader_count = {1 + readers}"
        ) in diff


def test_raw_message_delivery_differing_by_environment_is_a_difference(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch
    subscription = aws.sns.TopicSubscription

    def envelope_for_queues(name: str, **kwargs: Any) -> Any:
        if kwargs.get("protocol") == "sqs":
            kwargs["raw_message_delivery"] = False
        return subscription(name, **kwargs)

    monkeypatch.setattr(aws.sns, "TopicSubscription", envelope_for_queues)
    diff = differences(dev, record("prod"))
    sub = "messaging:aws:sns/topicSubscription:TopicSubscription:notifications-subscription"
    assert set(diff) == {
        f"property {sub}: rawMessageDelivery = false only in prod",
        f"property {sub}: rawMessageDelivery = true only in dev",
    }


# --- per-deployment choices: left out only where their stack key says so -----------------------


def test_self_signed_certificate_is_a_difference_where_a_certificate_arn_is_set(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def ignore_certificate_arn(original: Any, profile: Profile, opts: Any) -> Any:
        # The builder bug: neither per-deployment certificate source reaches the edge.
        return original(_deployment(profile, certificate_arn=None, domain_name=None), opts)

    _wrap(monkeypatch, edge_builder, "_certificate_arn", ignore_certificate_arn)
    overrides = {"payment:certificateArn": CERTIFICATE_ARN}
    prod = record("prod", overrides=overrides)
    diff = differences(dev, prod, config_b=stack_config("prod", overrides=overrides))
    for kind in ("tls:index/privateKey:PrivateKey", "tls:index/selfSignedCert:SelfSignedCert"):
        assert f"resource edge:{kind}:api-tls only in prod" in diff
    assert "resource edge:aws:acm/certificate:Certificate:api only in prod" in diff


def test_alert_subscription_is_a_difference_where_alert_email_is_not_set(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def hard_coded_address(original: Any, profile: Profile, keys: Any, scope: Any) -> Any:
        alerts = original(profile, keys, scope)
        aws.sns.TopicSubscription(
            "alerts-email",
            topic=alerts.arn,
            protocol="email",
            endpoint="oncall@example.com",
            opts=scope.child,
        )
        return alerts

    _wrap(monkeypatch, messaging_builder, "_alerts", hard_coded_address)
    overrides = {"payment:alertEmail": None}
    prod = record("prod", overrides=overrides)
    diff = differences(dev, prod, config_b=stack_config("prod", overrides=overrides))
    assert (
        "resource messaging:aws:sns/topicSubscription:TopicSubscription:alerts-email only in prod"
        in diff
    )


def test_a_missing_alert_subscription_names_the_stack_key(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def drop_address(original: Any, profile: Profile, *args: Any) -> Any:
        return original(_deployment(profile, alert_email=None), *args)

    _wrap(monkeypatch, messaging_builder, "_alerts", drop_address)
    diff = differences(dev, record("prod"))
    assert diff == [
        "choice prod: payment:alertEmail is set, but an e-mail subscription of that address "
        "to the alerts topic is missing"
    ]


def test_image_build_is_a_difference_where_an_image_uri_is_set(
    graphs: Graphs, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = graphs.environment("dev")  # recorded and cached before any patch

    def build_anyway(original: Any, profile: Profile, *args: Any) -> Any:
        return original(_deployment(profile, image_uri=None), *args)

    _wrap(monkeypatch, image_builder, "_image", build_anyway)
    overrides = {"payment:imageUri": IMAGE_URI}
    prod = record("prod", overrides=overrides)
    diff = differences(dev, prod, config_b=stack_config("prod", overrides=overrides))
    assert "resource compute:docker-build:index:Image:api only in prod" in diff


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_exclusion_names_the_stack_key_that_allows_it(graphs: Graphs, env: str) -> None:
    excluded = shape(graphs.environment(env)).excluded
    assert excluded
    keys = ("payment:certificateArn", "payment:alertEmail", "payment:imageUri")
    assert all(any(key in why for key in keys) for why in excluded.values()), excluded


# --- counts follow the profile ------------------------------------------------------------------


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_counted_families_match_the_profile(graphs: Graphs, env: str) -> None:
    assert count_problems(graphs.environment(env), load_profile(env)) == []


# --- suffixes fold by token ---------------------------------------------------------------------

AWKWARD_SUFFIXES = ("rt", "s3", "api", "dev2", "pr-142")


def test_suffix_folds_whole_tokens_only() -> None:
    assert fold_tokens("payment-queue-rt", ["rt"]) == "payment-queue-{suffix}"
    assert fold_tokens("public-0-rta", ["rt"]) == "public-0-rta"
    assert fold_tokens("/payment/pr-142/api", ["pr-142"]) == "/payment/{suffix}/api"
    assert fold_tokens("payment-queue-pr-1420", ["pr-142"]) == "payment-queue-pr-1420"
    assert family("payment-db-instance-dev2-1", "dev") == "payment-db-instance-dev2-#"


@pytest.mark.parametrize("suffix", AWKWARD_SUFFIXES)
def test_any_valid_suffix_keeps_the_shape(graphs: Graphs, suffix: str) -> None:
    suffixed = record("dev", suffix=suffix)
    assert suffixed.suffix == suffix
    assert differences(graphs.environment("dev"), suffixed) == []


# --- tags are reviewed in the snapshots ---------------------------------------------------------


def test_a_tag_change_shows_in_the_snapshot(graphs: Graphs) -> None:
    retagged = record("dev", overrides={"payment:tags": {"owner": "payments-oncall"}})
    before = render(graphs.environment("dev")).splitlines()
    after = render(retagged).splitlines()
    changed = [
        line
        for line in difflib.unified_diff(before, after, lineterm="", n=0)
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed and all(line[1:].startswith("    Owner: ") for line in changed)
    assert '+    Owner: "payments-oncall"' in changed


def test_tags_render_sorted_per_resource(graphs: Graphs) -> None:
    text = render(graphs.environment("dev")).splitlines()
    start = text.index("  tags:")
    block = []
    for line in text[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line.split(":")[0].strip())
    assert block and block == sorted(block)
