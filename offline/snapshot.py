"""A readable, stable text form of a graph for syrupy snapshots and pull-request review.

Grouped by concern, one block per resource: type and logical name, parent, dependencies (by
logical name), options, and the inputs sorted by key, with JSON documents (policies, container
definitions, dashboards) pretty-printed so a diff points at the changed statement. Tags are a
block of their own, one sorted `key: value` line each, so a changed tag shows in review as the
line that changed. Volatile values (image content tags and digests) are normalised, so a
snapshot changes only when what would be deployed changes.
"""

from __future__ import annotations

import json
import re
from typing import Any

from resource_graph import Graph, Resource

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_ECR_TAG = re.compile(
    r"(\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/[a-z0-9._/-]+):(build-)?[0-9a-f]{12,64}\b"
)
TAGS = "tags"


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        text = _DIGEST.sub("sha256:<digest>", value)
        text = _ECR_TAG.sub(r"\1:<content-tag>", text)
        stripped = text.strip()
        if stripped[:1] in "{[" and len(stripped) > 2:
            try:
                return _normalise(json.loads(stripped))
            except json.JSONDecodeError:
                return text
        return text
    if isinstance(value, dict):
        return {k: _normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _block(resource: Resource, names: dict[str, str]) -> list[str]:
    lines = [f"{resource.type} {resource.name}"]
    if resource.parent:
        lines.append(f"  parent: {names.get(resource.parent, resource.parent)}")
    deps = sorted(names.get(d, d) for d in resource.dependencies)
    if deps:
        lines.append(f"  depends on: {', '.join(deps)}")
    options = [
        flag
        for flag, on in (
            ("delete_before_replace", resource.delete_before_replace),
            ("protect", resource.protect),
            ("retain_on_delete", resource.retain_on_delete),
        )
        if on
    ]
    options += [f"ignore_changes={name}" for name in resource.ignore_changes]
    if options:
        lines.append(f"  options: {', '.join(options)}")
    for key, value in sorted(resource.inputs.items()):
        if key == TAGS and isinstance(value, dict):
            lines.extend(_tags(value))
            continue
        text = json.dumps(_normalise(value), indent=2, sort_keys=True)
        text = text.replace("\n", "\n    ")
        lines.append(f"  {key}: {text}")
    return lines


def _tags(tags: dict[str, Any]) -> list[str]:
    """A resource's tags, sorted by key, one line each (a tag map in JSON would be one value)."""
    return ["  tags:"] + [f"    {k}: {json.dumps(_normalise(v))}" for k, v in sorted(tags.items())]


def render(graph: Graph) -> str:
    """The whole environment as text, concern by concern."""
    names = {r.urn: f"{r.name} [{r.type.rsplit(':', 1)[-1]}]" for r in graph}
    by_concern: dict[str, list[Resource]] = {}
    for resource in graph:
        by_concern.setdefault(graph.concern(resource), []).append(resource)
    lines = [f"# environment {graph.env} (suffix {graph.suffix}): {len(graph)} resources"]
    for concern in sorted(by_concern):
        lines.append(f"\n## {concern}")
        for resource in sorted(by_concern[concern], key=lambda r: (r.type, r.name)):
            lines.extend(_block(resource, names))
    lines.append("\n## stack outputs")
    for key, value in sorted(graph.outputs.items()):
        lines.append(f"  {key}: {json.dumps(_normalise(value), sort_keys=True)}")
    return "\n".join(lines) + "\n"
