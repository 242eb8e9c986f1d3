"""Create the api_keys table; the application role may only verify keys.

Revision ID: 0003
Revises: 0002
Create Date: 2025-02-01

A key is `pk_<key_id>_<secret>` (payment_app.merchants); only SHA-256 of the secret is stored.
Keys are created, listed and revoked by `python -m payment_app.merchants` as the owner role. The
application role (DB_USER, from env.py) gets SELECT on exactly the columns the API's
authentication reads (api/auth.py): key_id, merchant_id, secret_sha256, revoked_at. Not the
label (operator notes), and no INSERT, UPDATE or DELETE: a compromised API task can verify keys
but never mint, revive or revoke one. USAGE on the schema was granted by 0002.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payment_app.migrations.roles import quoted_app_role

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SELECT_COLUMNS = ("key_id", "merchant_id", "secret_sha256", "revoked_at")


def upgrade() -> None:
    """The table, with the key format enforced by the database too, and the verify-only grant."""
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), primary_key=True),
        sa.Column("merchant_id", sa.Text(), nullable=False),
        sa.Column("secret_sha256", sa.LargeBinary(), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("key_id ~ '^[0-9a-f]{16}$'", name="ck_api_keys_key_id"),
        sa.CheckConstraint(
            "merchant_id ~ '^[A-Za-z0-9_\\-]{1,64}$'", name="ck_api_keys_merchant_id"
        ),
        sa.CheckConstraint("octet_length(secret_sha256) = 32", name="ck_api_keys_secret_sha256"),
    )
    op.create_index("ix_api_keys_merchant", "api_keys", ["merchant_id", "created_at"])
    role = quoted_app_role()
    op.execute(f"GRANT SELECT ({', '.join(SELECT_COLUMNS)}) ON TABLE api_keys TO {role}")


def downgrade() -> None:
    """Reverse upgrade(); dropping the table also drops its grants."""
    op.drop_index("ix_api_keys_merchant", table_name="api_keys")
    op.drop_table("api_keys")
