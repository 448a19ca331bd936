"""the day book of one value: month figures of the findings with one value of one dimension, per other value

The day book is emptied: the scheduler's next catch-up builds it again, both parts, from the findings rows (the
pages read the rows meanwhile).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

FLOWS = (
    "found",
    "found_major",
    "repeat",
    "repeat_major",
    "closed",
    "closed_major",
    "on_time",
    "closed_same_week",
    "closed_same_month",
)
STOCKS = ("open", "open_major", "overdue")
DAY_BOOK = (
    "stats_flows",
    "stats_months",
    "stats_stocks",
    "stats_close_days",
    "stats_overdue_members",
    "stats_state",
)


def _cells(name: str, counts: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("of_dim", sa.String(length=20), nullable=False),
        sa.Column("of_key", sa.String(length=60), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("dim", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        *(sa.Column(count, sa.Integer(), nullable=False) for count in counts),
        sa.PrimaryKeyConstraint("of_dim", "of_key", "day", "dim", "key", "town", name=op.f(f"pk_{name}")),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _cells("stats_value_months", FLOWS)
    _cells("stats_value_stocks", STOCKS)
    op.create_table(
        "stats_value_close_days",
        sa.Column("of_dim", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("of_key", sa.String(length=60), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "of_dim", "day", "of_key", "town", "days", name=op.f("pk_stats_value_close_days")
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("stats_state") as batch:
        batch.add_column(sa.Column("values_through", sa.Date(), nullable=True))
    for table in DAY_BOOK:
        op.execute(sa.text(f"DELETE FROM {table}"))


def downgrade() -> None:
    with op.batch_alter_table("stats_state") as batch:
        batch.drop_column("values_through")
    op.drop_table("stats_value_close_days")
    op.drop_table("stats_value_stocks")
    op.drop_table("stats_value_months")
