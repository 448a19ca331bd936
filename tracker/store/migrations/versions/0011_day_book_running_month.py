"""the day book keeps the running month so far in one table, for its page to read at once

The stored day in progress is handed back to the rows (stats_state.partial_until cleared): the scheduler's next
catch-up stores it again, with the new table.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COUNTS = (
    "found",
    "found_major",
    "repeat",
    "repeat_major",
    "closed",
    "closed_major",
    "on_time",
    "closed_same_week",
    "closed_same_month",
    "open",
    "open_major",
    "overdue",
)


def upgrade() -> None:
    op.create_table(
        "stats_running",
        sa.Column("dim", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        *(sa.Column(count, sa.Integer(), nullable=False) for count in COUNTS),
        sa.PrimaryKeyConstraint("dim", "day", "town", "key", name=op.f("pk_stats_running")),
        sqlite_with_rowid=False,
    )
    op.execute("UPDATE stats_state SET partial_until = NULL")


def downgrade() -> None:
    op.drop_table("stats_running")
