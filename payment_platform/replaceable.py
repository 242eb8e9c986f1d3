"""Names for resources that must be replaced while something still uses them.

An explicitly named resource is normally replaced delete-first (the new one cannot take a name
still in use). That fails where the old resource is in use and its user is only updated, not
replaced: a target group behind a listener (`ResourceInUse`), a parameter group the cluster or
replication group still names (`InvalidDBParameterGroupState`, `InvalidCacheParameterGroupState`).
These resources get `payment-<service>-<suffix>-<4 hex>` instead: the token changes exactly when
an argument that forces replacement changes, so Pulumi creates the new resource first, moves the
user onto it, and deletes the old one last.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_random as random

from conventions.naming import REPLACEMENT_TOKEN

# The token is "-" and 2 bytes in hex; conventions.naming budgets REPLACEMENT_TOKEN for it.
TOKEN_BYTES = (REPLACEMENT_TOKEN - 1) // 2


def replaceable_name(
    resource_name: str,
    base: str,
    *,
    replaced_by: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """`base` plus a token that changes whenever a value in `replaced_by` changes.

    `replaced_by` holds the arguments of the named resource that force its replacement (its
    provider's ForceNew arguments); any other change is an in-place update under the same name.
    """
    # NOTE: a RandomId is replaced when its keepers change, and only then: a new hex, a new name.
    token = random.RandomId(
        f"{resource_name}-name",
        byte_length=TOKEN_BYTES,
        prefix=f"{base}-",
        keepers=dict(replaced_by),
        opts=opts,
    )
    return token.hex
