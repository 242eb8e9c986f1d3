"""A builder's component scope: its `ComponentResource`, the options its resources take, and
the registration of its outputs.

Every builder opens with `scope = component_scope("network")` and ends with
`return scope.finish(NetworkOutputs(...))`, so the component type, the parent of every resource
and the registered outputs (every field of the dataclass, never a hand-picked subset) are the
same in all of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

import pulumi

PACKAGE = "payment"

OutputsT = TypeVar("OutputsT")


@dataclasses.dataclass(frozen=True)
class Scope:
    """The component of one concern and the two option sets its resources use."""

    component: pulumi.ComponentResource
    # Plain children: parented to the component.
    child: pulumi.ResourceOptions
    # Explicitly named children: a replacement must delete the old resource first, since the
    # new one cannot take a name that is still in use.
    named: pulumi.ResourceOptions

    def opts(self, **options: Any) -> pulumi.ResourceOptions:
        """Child options plus extra ones (`depends_on=[...]`, `ignore_changes=[...]`)."""
        return pulumi.ResourceOptions(parent=self.component, **options)

    def finish(self, outputs: OutputsT) -> OutputsT:
        """Register every field of the outputs dataclass on the component; return it."""
        assert dataclasses.is_dataclass(outputs) and not isinstance(outputs, type)
        self.component.register_outputs(
            {field.name: getattr(outputs, field.name) for field in dataclasses.fields(outputs)}
        )
        return outputs


def component_scope(concern: str) -> Scope:
    """The scope of `concern`: component `payment:<concern>:<Concern>` named `<concern>`."""
    component = pulumi.ComponentResource(f"{PACKAGE}:{concern}:{concern.capitalize()}", concern)
    return Scope(
        component=component,
        child=pulumi.ResourceOptions(parent=component),
        named=pulumi.ResourceOptions(parent=component, delete_before_replace=True),
    )


def after(value: pulumi.Input[str], deps: Sequence[pulumi.Output[Any]]) -> pulumi.Output[str]:
    """`value`, carrying dependencies on the resources behind `deps`.

    `depends_on` takes resources, and builders hand each other Outputs: an input built this way
    makes the resource that takes it wait for those resources, with the same resolved value.
    """
    return pulumi.Output.all(value, *deps).apply(lambda resolved: str(resolved[0]))
