"""Physical names and tags of the account's resources.

Environment resources are `payment-{service}-{suffix}`; account resources are
`payment-account-{service}`, with no suffix. No service in `conventions.naming.NAMES` starts
with `account`, so no environment's name (whatever its suffix) can equal an account name
(tests/account proves it). The trail's log group lives outside `/payment/<suffix>/`, where a
suffix `account` would otherwise land on it.
"""

from __future__ import annotations

from typing import Final

from conventions.naming import ACCOUNT_PREFIX, ACCOUNT_SCOPE
from conventions.tags import FIXED_TAGS

PREFIX: Final = ACCOUNT_PREFIX.removesuffix("-")

TRAIL: Final = f"{PREFIX}-trail"
# The delivery role CloudTrail assumes to write to the trail's log group.
TRAIL_LOGS_ROLE: Final = f"{PREFIX}-trail-logs"
# Buckets get "-<account id>" appended (S3 names are global): 26 + 13 and 27 + 13 of 63.
TRAIL_BUCKET: Final = f"{PREFIX}-trail-logs"
ACCESS_LOG_BUCKET: Final = f"{PREFIX}-access-logs"
KEY_ALIAS: Final = f"alias/{PREFIX}-trail-key"
TRAIL_LOG_GROUP: Final = f"/{PREFIX}/cloudtrail"

# Where the trail bucket's server access logs go inside the access-log bucket.
TRAIL_ACCESS_LOG_PREFIX: Final = "trail-logs/"

# The scope of account resources in the standard tags' Environment and EnvironmentSuffix.
SCOPE: Final = ACCOUNT_SCOPE

# NOTE: `payment_platform.tags.standard_tags` needs an environment's Profile, which the account
# has none of; these are the same eight keys, with the account as their scope. The owner, cost
# center, data class and compliance are those of environments/default.toml [tags]
# (tests/account proves they agree).
TAGS: Final[dict[str, str]] = {
    "Project": FIXED_TAGS["Project"],
    "Environment": SCOPE,
    "EnvironmentSuffix": SCOPE,
    "CostCenter": "payments-platform",
    "Owner": "platform-engineering",
    "DataClassification": "confidential",
    "Compliance": "pci-dss",
    "ManagedBy": FIXED_TAGS["ManagedBy"],
}
