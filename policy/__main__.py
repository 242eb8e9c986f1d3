"""Entry point the Pulumi engine runs: `pulumi preview --policy-pack policy/`.

The pack evaluates the same `guardrails` the offline tests run, so it needs the project root on
`sys.path` (the engine starts this file with `policy/` as the working directory).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pulumi_policy import PolicyPack  # noqa: E402

from policy.pack import ENFORCEMENT, PACK_NAME, stack_policy  # noqa: E402

PolicyPack(name=PACK_NAME, enforcement_level=ENFORCEMENT, policies=[stack_policy()])
