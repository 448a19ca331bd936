"""the day book (tracker.stats.daybook): each completed day's dashboard figures; an index for overdue now

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
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


def _cells(name: str, counts: tuple[str, ...]) -> None:
    op.create_table(
        name,
        sa.Column("dim", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=60), nullable=False),
        *(sa.Column(count, sa.Integer(), nullable=False) for count in counts),
        sa.PrimaryKeyConstraint("dim", "day", "town", "key", name=op.f(f"pk_{name}")),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    _cells("stats_flows", FLOWS)
    _cells("stats_months", FLOWS)
    _cells("stats_stocks", STOCKS)
    op.create_table(
        "stats_overdue_members",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_stats_overdue_members")),
    )
    op.create_index("ix_finding_history_at", "finding_history", ["at", "finding_id"], unique=False)
    op.create_index(
        "ix_findings_list_overdue",
        "findings",
        ["due_at", "closed_at", "reported_at", "submitted_at", "status"],
        unique=False,
    )
    op.create_index(
        "ix_findings_list_major", "findings", ["severity", "reported_at", "closed_at"], unique=False
    )
    op.create_table(
        "stats_close_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("town", sa.String(length=60), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("closed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "town", "days", name=op.f("pk_stats_close_days")),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stats_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("through", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stats_state")),
    )
    op.create_index(
        "ix_findings_stats_overdue",
        "findings",
        ["status", "due_at", "town", "facility_type", "facility_id", "category", "severity", "mode"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_findings_stats_overdue", table_name="findings")
    op.drop_index("ix_finding_history_at", table_name="finding_history")
    op.drop_index("ix_findings_list_major", table_name="findings")
    op.drop_index("ix_findings_list_overdue", table_name="findings")
    for table in (
        "stats_state",
        "stats_close_days",
        "stats_overdue_members",
        "stats_stocks",
        "stats_months",
        "stats_flows",
    ):
        op.drop_table(table)
