"""the day book of one value keeps the day in progress too, so a narrowed page of the running month reads only
what happened since the last catch-up rather than the whole day's findings

The stored day in progress is handed back to the rows (stats_state.partial_until cleared): the scheduler's next
catch-up stores it again, in the new tables too.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The counts as of this revision (a migration keeps the schema of its own time).
FLOWS = [
    "found",
    "found_major",
    "repeat",
    "repeat_major",
    "closed",
    "closed_major",
    "on_time",
    "closed_same_week",
    "closed_same_month",
]


def upgrade() -> None:
    op.create_table(
        "stats_value_today",
        sa.Column("of_dim", sa.String(length=20), nullable=False),
        sa.Column("of_key", sa.String(length=60), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        *(sa.Column(count, sa.Integer(), nullable=False) for count in FLOWS),
        sa.PrimaryKeyConstraint(
            "of_dim",
            "of_key",
            "day",
            "dim",
            "key",
            "town",
            name=op.f("pk_stats_value_today"),
            postgresql_include=FLOWS,
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stats_value_today_close_days",
        sa.Column("of_dim", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("of_key", sa.String(length=60), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "of_dim",
            "day",
            "of_key",
            "town",
            "days",
            name=op.f("pk_stats_value_today_close_days"),
            postgresql_include=["closed"],
        ),
        sqlite_with_rowid=False,
    )
    op.execute("UPDATE stats_state SET partial_until = NULL")


def downgrade() -> None:
    op.drop_table("stats_value_today_close_days")
    op.drop_table("stats_value_today")
