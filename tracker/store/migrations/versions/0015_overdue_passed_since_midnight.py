"""the day book counts the deadlines passed since 00:00 up to its last catch-up, so the running month's page reads
only those passed since

The stored day in progress is handed back to the rows (stats_state.partial_until cleared): stats_running's overdue
counts them from the next catch-up on, which stores them too.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stats_overdue_passed",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_stats_overdue_passed")),
    )
    op.execute("UPDATE stats_state SET partial_until = NULL")


def downgrade() -> None:
    op.drop_table("stats_overdue_passed")
