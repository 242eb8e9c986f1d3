"""The central promise: every environment is the same platform, differing only where config says.

Snapshots lock each environment's graph (review the diff in the pull request); the identity test
proves the shapes are equal; the config-only tests prove a new environment or suffix needs no code.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from offline.recorder import ROOT, record, stack_config
from offline.shape import differences, family, shape
from offline.snapshot import render
from resource_graph import Graph
from tests.conftest import ENVIRONMENTS, Graphs


class GraphSnapshot(SingleFileSnapshotExtension):
    """One readable text file per environment, so a pull request's diff names the environment."""

    _write_mode = WriteMode.TEXT
    file_extension = "txt"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_snapshot(graphs: Graphs, env: str, snapshot: SnapshotAssertion) -> None:
    assert render(graphs.environment(env)) == snapshot.use_extension(GraphSnapshot)


@pytest.mark.parametrize("env", ENVIRONMENTS[1:])
def test_structurally_identical_to_dev(graphs: Graphs, env: str) -> None:
    diff = differences(graphs.environment("dev"), graphs.environment(env))
    assert not diff, "environments diverge structurally:\n" + "\n".join(diff)


def test_environments_differ_in_counts_where_config_says(graphs: Graphs) -> None:
    dev, prod = shape(graphs.environment("dev")), shape(graphs.environment("prod"))
    assert set(dev.families) == set(prod.families)
    grew = {fam for fam in dev.families if prod.families[fam] > dev.families[fam]}
    assert any("aws:ec2/subnet:Subnet" in fam for fam in grew)  # 2 AZs -> 3
    assert any("aws:rds/clusterInstance:ClusterInstance" in fam for fam in grew)  # readers


def test_per_deployment_choices_keep_the_shape(graphs: Graphs) -> None:
    # prod with a real certificate and no alert e-mail is still the same platform.
    overrides = {
        "payment:certificateArn": (
            "arn:aws:acm:us-east-1:123456789012:certificate/12345678-1234-1234-1234-123456789012"
        ),
        "payment:alertEmail": None,
    }
    prod = record("prod", overrides=overrides)
    assert not prod.of_type("tls:index/selfSignedCert:SelfSignedCert")
    stack = stack_config("prod", overrides=overrides)
    assert differences(graphs.environment("dev"), prod, config_b=stack) == []


def test_domain_certificate_keeps_the_shape(graphs: Graphs) -> None:
    overrides = {"payment:domainName": "payments.example.com"}
    prod = record("prod", overrides=overrides)
    assert prod.of_type("aws:acm/certificateValidation:CertificateValidation")
    stack = stack_config("prod", overrides=overrides)
    assert differences(graphs.environment("dev"), prod, config_b=stack) == []


def test_prebuilt_image_changes_only_where_tasks_pull_from(graphs: Graphs) -> None:
    image = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/payment-api-ci:{'a' * 12}"
    overrides = {"payment:imageUri": image}
    prod = record("prod", overrides=overrides)
    assert not prod.of_type("docker-build:index:Image")
    stack = stack_config("prod", overrides=overrides)
    diff = differences(graphs.environment("dev"), prod, config_b=stack)
    # The tasks run the given image and the execution role may pull from its repository, not
    # this stack's own: those edges and the pull grant's resource are the only differences.
    repository = "compute:aws:ecr/repository:Repository:api"
    pull = (
        "property compute:aws:iam/rolePolicy:RolePolicy:execution: policy statement = Allow "
        "ecr:BatchCheckLayerAvailability, ecr:BatchGetImage, ecr:GetDownloadUrlForLayer on"
    )
    assert set(diff) == {
        f"wiring compute:aws:ecs/taskDefinition:TaskDefinition:api -depends-> {repository} "
        "only in dev",
        f"wiring compute:aws:ecs/taskDefinition:TaskDefinition:worker -depends-> {repository} "
        "only in dev",
        f"wiring compute:aws:iam/rolePolicy:RolePolicy:execution -depends-> {repository} "
        "only in dev",
        f"{pull} api [aws:ecr/repository:Repository] only in dev",
        f"{pull} <ecr:repository outside the stack> only in prod",
    }


def test_identity_check_reports_a_difference(graphs: Graphs) -> None:
    dev = graphs.environment("dev")
    trimmed = Graph(dev.env, dev.suffix, dev.resources[:-1], dev.outputs)
    diff = differences(dev, trimmed)
    assert diff and dev.resources[-1].type in diff[0]


def test_family_folds_suffix_az_and_counters() -> None:
    assert family("private-subnet-us-east-1b-2", "pr-1") == "private-subnet-{az}-#"
    assert family("reader-payment-db-pr-1", "pr-1") == "reader-payment-db-{suffix}"


def _copy_project(tmp_path: Path) -> Path:
    for item in ("environments", "__main__.py", "Pulumi.yaml", "app"):
        source = ROOT / item
        if source.is_dir():
            shutil.copytree(source, tmp_path / item)
        else:
            shutil.copy(source, tmp_path / item)
    for stack in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack, tmp_path / stack.name)
    return tmp_path


def test_new_environment_is_config_only(graphs: Graphs, tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / "environments/qa.toml").write_text(
        '[network]\nvpc_cidr = "10.40.0.0/16"\n\n[compute]\ndesired_count = 2\nmin_count = 2\n'
        "max_count = 20\n"
    )
    (root / "Pulumi.qa.yaml").write_text(
        "config:\n  aws:region: us-east-1\n  payment:environment: qa\n"
        "  payment:environmentSuffix: qa\n  payment:alertEmail: qa-alerts@example.com\n"
    )
    qa = record("qa", root=root)
    assert qa.suffix == "qa"
    assert differences(graphs.environment("dev"), qa, root=root) == []
    vpc = qa.one("aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.40.0.0/16"


def test_ephemeral_suffix_gets_unique_names_and_its_overrides(
    graphs: Graphs, tmp_path: Path
) -> None:
    root = _copy_project(tmp_path)
    (root / "environments/suffixes/pr-142.toml").write_text("[database]\nmax_acu = 8\n")
    pr = record("dev", "pr-142", root=root)
    dev = graphs.environment("dev")
    assert differences(dev, pr, root=root) == []
    assert (
        pr.one("aws:rds/cluster:Cluster").inputs["serverlessv2ScalingConfiguration"]["maxCapacity"]
        == 8
    )
    pr_names = _physical_names(pr)
    assert pr_names and all("pr-142" in name for name in pr_names)
    assert not pr_names & _physical_names(dev)


def _physical_names(graph: Graph) -> set[str]:
    keys = ("name", "bucket", "clusterIdentifier", "replicationGroupId", "identifier", "family")
    names = set()
    for resource in graph:
        for key in keys:
            value = resource.inputs.get(key)
            if isinstance(value, str) and value.startswith("payment-"):
                names.add(value)
    return names
