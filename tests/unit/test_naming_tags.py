"""The naming helper and the standard tag set."""

from __future__ import annotations

import pytest

from conventions import naming
from conventions.tags import is_taggable
from payment_platform.tags import standard_tags
from tests.conftest import load_profile


def test_physical_name_pattern() -> None:
    assert naming.physical_name("alb", "pr-142") == "payment-alb-pr-142"
    assert load_profile("prod", "pr-142").name("cache") == "payment-cache-pr-142"


def test_unknown_service_is_a_programming_error() -> None:
    with pytest.raises(KeyError, match="NAMES"):
        naming.physical_name("albb", "dev")


def test_longest_allowed_suffix_fits_every_limit() -> None:
    longest = "a" * naming.max_suffix_length()
    assert naming.name_violations(longest) == []
    assert naming.name_violations(longest + "b")


def test_limits_are_awss() -> None:
    assert naming.NAMES["alb"].limit == 32
    # The target group's name carries a replacement token within AWS's 32.
    assert naming.NAMES["tg"].limit + naming.REPLACEMENT_TOKEN == 32
    assert naming.NAMES["cache"].limit == 40


@pytest.mark.parametrize("suffix", ["dev", "pr-142", "a1-b2-c3"])
def test_suffix_pattern_accepts(suffix: str) -> None:
    assert naming.SUFFIX_PATTERN.match(suffix)


@pytest.mark.parametrize("suffix", ["Dev", "pr_1", "pr--1", "-a", "a-", "a b", ""])
def test_suffix_pattern_rejects(suffix: str) -> None:
    assert not naming.SUFFIX_PATTERN.match(suffix)


def test_standard_tags() -> None:
    tags = standard_tags(load_profile("staging", "pr-9"))
    assert tags == {
        "Project": "payment-platform",
        "Environment": "staging",
        "EnvironmentSuffix": "pr-9",
        "CostCenter": "payments-platform",
        "Owner": "platform-engineering",
        "DataClassification": "confidential",
        "Compliance": "pci-dss",
        "ManagedBy": "pulumi",
    }


@pytest.mark.parametrize(
    ("token", "taggable"),
    [
        ("aws:ec2/vpc:Vpc", True),
        ("aws:sqs/queue:Queue", True),
        ("aws:ec2/route:Route", False),
        ("aws:s3/bucketPolicy:BucketPolicy", False),
        ("random:index/randomPassword:RandomPassword", False),
    ],
)
def test_is_taggable(token: str, taggable: bool) -> None:
    assert is_taggable(token) is taggable
