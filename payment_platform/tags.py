"""The standard tag set, applied to every taggable resource by one stack transform.

A stack transformation instead of `tags=` on each resource: a builder cannot forget it. It runs
in the Python SDK before registration (unlike engine-side transforms, which mocks never run), so
the recorded graph shows the tags as inputs and the guardrails prove them on every environment.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from config import Profile
from conventions.tags import FIXED_TAGS, TAGS_KEY, is_taggable


def standard_tags(profile: Profile) -> dict[str, str]:
    """The tags every taggable resource carries."""
    return {
        "Project": FIXED_TAGS["Project"],
        "Environment": profile.env,
        "EnvironmentSuffix": profile.suffix,
        "CostCenter": profile.tags.cost_center,
        "Owner": profile.tags.owner,
        "DataClassification": profile.tags.data_classification,
        "Compliance": profile.tags.compliance,
        "ManagedBy": FIXED_TAGS["ManagedBy"],
    }


def register_tagging(tags: Mapping[str, str]) -> None:
    """Merge `tags` into every taggable resource registered after this call."""

    def add_tags(
        args: pulumi.ResourceTransformationArgs,
    ) -> pulumi.ResourceTransformationResult | None:
        if not isinstance(args.resource, pulumi.CustomResource) or not is_taggable(args.type_):
            return None
        props = dict(args.props)
        own = props.get(TAGS_KEY)
        props[TAGS_KEY] = (
            pulumi.Output.from_input(own).apply(lambda o: {**tags, **(o or {})})
            if own is not None
            else dict(tags)
        )
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    pulumi.runtime.register_stack_transformation(add_tags)
