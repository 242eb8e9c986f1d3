"""The standard tag set: its keys, its fixed values, and which resources can carry it.

The values that vary (environment, suffix, cost center, ...) come from the profile; the builders'
tagging transform (`payment_platform.tags`) fills them in and the guardrails check them.
"""

from __future__ import annotations

import functools
import importlib
import inspect

TAGS_KEY = "tags"

# Every taggable resource carries these eight keys (DESIGN: naming and tags).
STANDARD_TAG_KEYS = (
    "Project",
    "Environment",
    "EnvironmentSuffix",
    "CostCenter",
    "Owner",
    "DataClassification",
    "Compliance",
    "ManagedBy",
)

# The keys whose value is the same in every environment.
FIXED_TAGS: dict[str, str] = {"Project": "payment-platform", "ManagedBy": "pulumi"}


@functools.cache
def is_taggable(type_token: str) -> bool:
    """True when the pulumi_aws resource behind a type token takes a `tags` map."""
    package, _, rest = type_token.partition(":")
    module_path, _, class_name = rest.partition(":")
    if package != "aws" or not class_name:
        return False
    module_name = module_path.split("/")[0]
    try:
        module = importlib.import_module(f"pulumi_aws.{module_name}")
    except ImportError:
        return False
    resource = getattr(module, class_name, None)
    if resource is None:
        return False
    return TAGS_KEY in inspect.signature(resource._internal_init).parameters
