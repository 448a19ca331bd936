"""findings keep what their running deadline was counted from (due_from, due_workdays), so a deadline counted over
an estimated year can be counted again when that year's schedule is loaded

A deadline still counted from its order (first round, never extended nor regraded) gets the order's moment and the
finding's days here. Any other has no start on record: it is left as it is when a schedule is loaded.

Revision ID: 0027
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0027"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("due_from", tracker.store.tables.UTCDateTime(), nullable=True))
    op.add_column("findings", sa.Column("due_workdays", sa.Integer(), nullable=True))
    op.get_bind().execute(
        sa.text(
            "UPDATE findings SET due_from = ordered_at, due_workdays = COALESCE(deadline_days, 0)"
            " WHERE due_at IS NOT NULL AND ordered_at IS NOT NULL AND round = 1"
            " AND NOT EXISTS (SELECT 1 FROM finding_history h WHERE h.finding_id = findings.id"
            " AND h.action IN ('extension_accepted', 'downgrade_approved'))"
        )
    )


def downgrade() -> None:
    # Plain DROP COLUMN, as in 0021: a batch would copy the table other tables refer to.
    op.drop_column("findings", "due_workdays")
    op.drop_column("findings", "due_from")
