"""docs/configuration.md is generated from the profile; it must never drift from the code."""

from __future__ import annotations

from config import SECRET, Profile, known_environments
from offline import docs
from offline.recorder import ROOT, stack_config


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


def test_reference_shows_secrets_as_secret_with_their_format() -> None:
    text = docs.render()
    [row] = [line for line in text.splitlines() if line.startswith("| `alert_email` |")]
    assert "| secret str or None |" in row and "pattern `" in row
    assert SECRET in row
    for env in known_environments(ROOT):
        assert stack_config(env)["payment:alertEmail"] not in text
