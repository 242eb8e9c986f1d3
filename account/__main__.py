"""payment-account: the account's one CloudTrail trail. Wiring only.

Deployed once per AWS account (`pulumi -C account up -s <account alias>`); every environment's
transaction-log data events land in this trail, so environments create no trail of their own.
"""

import sys
from pathlib import Path

# Pulumi runs this file with account/ as sys.path[0]; the project's packages (account, config,
# conventions, payment_platform) live one level up, in the repository root. It goes first so
# that no module in account/ can shadow one of them.
REPOSITORY = Path(__file__).resolve().parent.parent
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

import pulumi  # noqa: E402

import config  # noqa: E402
from account import names, settings, trail  # noqa: E402
from payment_platform.tags import register_tagging  # noqa: E402

try:
    account_settings = settings.load(
        config.runtime_stack_config(),
        stack_file=f"Pulumi.{pulumi.get_stack()}.yaml",
        root=Path(__file__).resolve().parent,  # the stack files beside this program
    )
except config.ConfigError as error:  # one line per problem, before any resource is registered
    raise SystemExit("\n".join(f"config error: {m}" for m in error.messages)) from None
register_tagging(names.TAGS)

audit = trail.build(account_settings)

pulumi.export("trail_arn", audit.trail_arn)
pulumi.export("trail_bucket_name", audit.trail_bucket_name)
pulumi.export("trail_log_group_name", audit.trail_log_group_name)
