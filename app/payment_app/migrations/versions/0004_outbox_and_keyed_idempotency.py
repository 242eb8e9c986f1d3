"""A transactional outbox, idempotency keys stored only as a keyed hash, per merchant, and an
index for the worker's look at payments in processing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02

- `payment_outbox`: one dispatch record per payment, inserted in the same transaction as the
  payment, so a committed payment is always due for processing; the relay (payment_app.outbox)
  sends it to SQS and sets `sent_at`. The application role may insert a record, read the
  pending ones (with FOR UPDATE, which needs UPDATE on a column) and set `sent_at`/`attempts`.
- `payments.idempotency_key` (the raw client string, which could hold anything a client typed)
  is replaced by `idempotency_digest`: HMAC-SHA256 under a secret the API reads at start, of
  the merchant id and the key (payment_app.idempotency). Keys are unique per merchant. Rows
  stored before this revision get a random digest: their raw keys are dropped, so a retry of
  one of them would not match. The service had not been deployed when this was written; on a
  live database the change would be split (add the digest, then drop the key a release later)
  so tasks of the previous version keep working during a rolling deploy.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from payment_app.migrations.roles import quoted_app_role

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The outbox table with its grants; the digest column replacing the raw key."""
    role = quoted_app_role()
    op.create_table(
        "payment_outbox",
        sa.Column(
            "payment_id",
            sa.Uuid(),
            sa.ForeignKey("payments.id", name="fk_payment_outbox_payment"),
            primary_key=True,
        ),
        sa.Column("message_body", sa.Text(), nullable=False),
        sa.Column("message_group", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    # The relay's scan: only records still to send, oldest first.
    op.create_index(
        "ix_payment_outbox_unsent",
        "payment_outbox",
        ["created_at"],
        postgresql_where=sa.text("sent_at IS NULL"),
    )
    op.execute(f"GRANT SELECT ON TABLE payment_outbox TO {role}")
    op.execute(
        f"GRANT INSERT (payment_id, message_body, message_group) ON TABLE payment_outbox TO {role}"
    )
    op.execute(f"GRANT UPDATE (sent_at, attempts) ON TABLE payment_outbox TO {role}")

    op.add_column("payments", sa.Column("idempotency_digest", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE payments SET idempotency_digest = decode(md5(random()::text || id::text), 'hex')"
    )
    op.alter_column("payments", "idempotency_digest", nullable=False)
    op.drop_column("payments", "idempotency_key")  # its unique constraint goes with it
    op.create_unique_constraint(
        "uq_payments_merchant_idempotency", "payments", ["merchant_id", "idempotency_digest"]
    )
    op.execute(f"GRANT INSERT (idempotency_digest) ON TABLE payments TO {role}")
    # The worker's stuck sweep and claim takeover look only at payments in processing.
    op.create_index(
        "ix_payments_processing_updated",
        "payments",
        ["updated_at"],
        postgresql_where=sa.text("status = 'processing'"),
    )


def downgrade() -> None:
    """Back to raw keys (the digests cannot be reversed: old rows get their id as key)."""
    role = quoted_app_role()
    op.drop_index("ix_payments_processing_updated", table_name="payments")
    op.drop_constraint("uq_payments_merchant_idempotency", "payments")
    op.add_column("payments", sa.Column("idempotency_key", sa.Text(), nullable=True))
    op.execute("UPDATE payments SET idempotency_key = id::text")
    op.alter_column("payments", "idempotency_key", nullable=False)
    op.create_unique_constraint("payments_idempotency_key_key", "payments", ["idempotency_key"])
    op.execute(f"GRANT INSERT (idempotency_key) ON TABLE payments TO {role}")
    op.drop_column("payments", "idempotency_digest")
    op.drop_index("ix_payment_outbox_unsent", table_name="payment_outbox")
    op.drop_table("payment_outbox")
