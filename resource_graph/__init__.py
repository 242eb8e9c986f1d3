"""The recorded resource graph: what an environment would build, as plain frozen data.

Inputs keep Pulumi's wire names (camelCase, as the engine sees them: `storageEncrypted`,
`kmsKeyId`), resolved to plain values; unknown values appear as `None`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One registered resource (custom or component)."""

    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...]
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    protect: bool = False
    retain_on_delete: bool = False
    provider: str = ""
    id: str | None = None
    state: Mapping[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        """An input by wire name."""
        return self.inputs.get(key, default)

    def policy(self, key: str = "policy") -> dict[str, Any]:
        """A JSON policy input parsed into a dict (empty when unset)."""
        raw = self.inputs.get(key)
        if not raw:
            return {}
        return raw if isinstance(raw, dict) else json.loads(raw)


@dataclass(frozen=True)
class Graph:
    """Every resource one environment registers, and the stack's outputs."""

    env: str
    suffix: str
    resources: tuple[Resource, ...]
    outputs: Mapping[str, Any]

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)

    def __len__(self) -> int:
        return len(self.resources)

    def of_type(self, *types: str) -> list[Resource]:
        """Resources of any of the given type tokens, in registration order."""
        return [r for r in self.resources if r.type in types]

    def one(self, type_: str, name: str | None = None) -> Resource:
        """The single resource of a type (and logical name); fails loudly otherwise."""
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {len(found)}")
        return found[0]

    def by_urn(self, urn: str) -> Resource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise LookupError(urn)

    def by_id(self, rid: str) -> Resource | None:
        """The resource whose mocked id (or ARN) is `rid`: resolves wiring between resources."""
        for resource in self.resources:
            if rid and (resource.id == rid or resource.state.get("arn") == rid):
                return resource
        return None

    def children(self, parent: Resource) -> list[Resource]:
        return [r for r in self.resources if r.parent == parent.urn]

    def concern(self, resource: Resource) -> str:
        """The concern (component) a resource belongs to, e.g. `network`; `stack` for none."""
        current: Resource | None = resource
        while current is not None:
            if current.type.startswith("payment:"):
                return current.type.split(":")[1]
            current = self.by_urn(current.parent) if current.parent else None
        return "stack"

    def waits_for(self, resource: Resource, other: Resource) -> bool:
        """Whether `resource` depends on `other`, directly or through other resources.

        This is the order the engine creates in, and the reverse of the order it destroys in.
        """
        seen: set[str] = set()
        pending = list(resource.dependencies)
        while pending:
            urn = pending.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            pending.extend(self.by_urn(urn).dependencies)
        return False
