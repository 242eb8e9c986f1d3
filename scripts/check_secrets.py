"""Fail when a project file holds a secret that `.secrets.baseline` does not list as audited.

The baseline is detect-secrets' own format (`detect-secrets scan > .secrets.baseline`, then
`detect-secrets audit .secrets.baseline` to mark each finding). Its audited findings are mock
values, type tokens and documentation. Unlike `detect-secrets-hook`, this check matches a
finding by file and secret hash, not by line number, and never rewrites the baseline: an edit
above a known finding does not fail lint, and CI leaves the checkout as it found it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from detect_secrets.core.secrets_collection import SecretsCollection
from detect_secrets.settings import transient_settings

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / ".secrets.baseline"
SKIPPED_DIRS = {".git", ".venv", "build", "__pycache__", ".mypy_cache", ".ruff_cache"}


def project_files() -> list[str]:
    """Tracked and untracked-but-not-ignored files; every file when this is not a git checkout."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        listed = [
            str(p.relative_to(ROOT))
            for p in ROOT.rglob("*")
            if p.is_file() and not SKIPPED_DIRS.intersection(p.relative_to(ROOT).parts)
        ]
    return sorted(name for name in listed if (ROOT / name).is_file())


def main() -> int:
    """Scan with the baseline's plugins and filters; report findings it does not list."""
    baseline = json.loads(BASELINE.read_text())
    excluded = [
        re.compile(pattern)
        for used in baseline["filters_used"]
        if used["path"].endswith("should_exclude_file")
        for pattern in used["pattern"]
    ]
    known = {
        (name, item["hashed_secret"])
        for name, items in baseline["results"].items()
        for item in items
        if item.get("is_secret") is False
    }
    files = [name for name in project_files() if not any(p.search(name) for p in excluded)]
    found = SecretsCollection(root=str(ROOT))
    with transient_settings(
        {"plugins_used": baseline["plugins_used"], "filters_used": baseline["filters_used"]}
    ):
        found.scan_files(*files)
    new = [
        f"{name}:{secret.line_number}: {secret.type}"
        for name, secret in found
        if (name, secret.secret_hash) not in known
    ]
    for line in new:
        print(f"possible secret not in .secrets.baseline: {line}", file=sys.stderr)
    if new:
        print(
            "Remove it, or if it is not a secret: detect-secrets scan --baseline "
            ".secrets.baseline, then detect-secrets audit .secrets.baseline",
            file=sys.stderr,
        )
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
