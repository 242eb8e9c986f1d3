"""docs/configuration.md is generated from the profile; it must never drift from the code."""

from __future__ import annotations

from config import Profile
from offline import docs


def test_configuration_reference_is_current() -> None:
    assert docs.DOC.read_text() == docs.render(), (
        "docs/configuration.md is stale: run `python -m offline config-docs`"
    )


def test_reference_lists_every_profile_key() -> None:
    text = docs.render()
    for section, info in Profile.model_fields.items():
        assert f"## `{section}`" in text
        model = info.annotation
        assert model is not None
        for key in model.model_fields:
            assert f"| `{key}` |" in text
