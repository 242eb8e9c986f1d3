"""Grant the application role exactly what the service does with the payments table.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15

The role is DB_USER, handed over by env.py (never a name written here). Read db.py: the service
selects payments, inserts the request columns below (id, created_at and updated_at come from
defaults) and updates only the status columns below. So: USAGE on the schema, SELECT on the
table, column-level INSERT and UPDATE, and nothing else: no DELETE, TRUNCATE, REFERENCES or
TRIGGER. No sequence grants either: there are none, ids are gen_random_uuid(). A revision that
adds a column the service writes must grant it too.
"""

from collections.abc import Sequence

from alembic import op

from payment_app.migrations.roles import quoted_app_role

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT_COLUMNS = (
    "idempotency_key",
    "request_hash",
    "merchant_id",
    "amount",
    "currency",
    "payment_method_token",
    "description",
    "status",
)
UPDATE_COLUMNS = (
    "status",
    "failure_reason",
    "processor_reference",
    "updated_at",
    "enqueued_at",
    "event_published_at",
)


def upgrade() -> None:
    """Schema usage, read access, and writes to the listed columns only."""
    role = quoted_app_role()
    op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
    op.execute(f"GRANT SELECT ON TABLE payments TO {role}")
    op.execute(f"GRANT INSERT ({', '.join(INSERT_COLUMNS)}) ON TABLE payments TO {role}")
    op.execute(f"GRANT UPDATE ({', '.join(UPDATE_COLUMNS)}) ON TABLE payments TO {role}")


def downgrade() -> None:
    """Take back what upgrade() granted (REVOKE on the table also revokes column grants)."""
    role = quoted_app_role()
    op.execute(f"REVOKE ALL ON TABLE payments FROM {role}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
