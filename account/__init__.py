"""The account project (`payment-account`): what an AWS account holds once, not per environment.

CloudTrail allows five trails per Region, and a multi-Region trail counts in every Region, so
one trail per environment stops at the sixth environment and bills management events again for
each. This project deploys the one trail of the account; it records every environment's
transaction-log data events by bucket-name prefix, so a new environment needs no change here.
"""
