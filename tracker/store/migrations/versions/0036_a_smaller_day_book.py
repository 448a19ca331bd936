"""a smaller day book: closed weeks and months stored once per cell (of every finding or of one value), a stock
snapshot, the rows since 00:00;
the dashboard's indexes on findings trimmed to what its queries read; inspections indexed by when they took place

The day book is derived from the findings: its old tables go, the new ones start empty, and the scheduler's
next catch-up (or `tracker stats rebuild`) fills them. Downgraded, the old tables come back empty, as the old
catch-up expects of a first build.

Revision ID: 0036
Revises: 0037
"""

import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0037"
branch_labels = None
depends_on = None

FLOWS = ("found", "found_major", "repeat", "repeat_major", "closed", "on_time", "closed_of_found")
STOCKS = ("open", "open_major", "overdue")
OLD_FLOWS = (
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
OLD_CELLS = {"stats_flows": OLD_FLOWS, "stats_months": OLD_FLOWS, "stats_stocks": STOCKS}
OLD_VALUE_CELLS = {
    "stats_value_months": OLD_FLOWS,
    "stats_value_stocks": STOCKS,
    "stats_value_today": OLD_FLOWS,
}
MAJOR = sa.text("severity = 'major'")


def _key(*names: str) -> list[sa.Column]:
    sizes = {"unit": 5, "of_dim": 20, "dim": 20}
    return [
        sa.Column(n, sa.Date() if n in ("day", "start") else sa.String(sizes.get(n, 60)), nullable=False)
        for n in names
    ]


def _counts(names: tuple[str, ...]) -> list[sa.Column]:
    return [sa.Column(n, sa.Integer(), nullable=False) for n in names]


def _table(name: str, key: tuple[str, ...], columns: list[sa.Column], **kw: object) -> None:
    op.create_table(name, *columns, sa.PrimaryKeyConstraint(*key, name=op.f(f"pk_{name}")), **kw)


def upgrade() -> None:
    for name in (
        *OLD_CELLS,
        *OLD_VALUE_CELLS,
        "stats_running",
        "stats_overdue_members",
        "stats_overdue_passed",
        "stats_close_days",
        "stats_value_close_days",
        "stats_value_today_close_days",
        "stats_state",
    ):
        op.drop_table(name)
    of = ("of_dim", "of_key", "town")
    for name, key, counts in (
        ("stats_periods", ("unit", "start", *of, "dim", "key"), FLOWS),
        ("stats_stocks", ("day", *of, "dim", "key"), STOCKS),
        ("stats_close_days", ("unit", "start", *of, "days"), ("closed",)),
    ):
        columns = [*_key(*(k for k in key if k != "days")), *_counts(("days",) if "days" in key else ())]
        _table(name, key, [*columns, *_counts(counts)])
    _table("stats_overdue", ("finding_id",), _counts(("finding_id",)))
    state = ("id", "history_id", "finding_id")
    _table("stats_state", ("id",), [*_counts(state), sa.Column("through", sa.Date(), nullable=False)])
    with op.batch_alter_table("findings") as batch:
        batch.drop_index("ix_findings_list_major")
        batch.drop_index("ix_findings_stats_overdue")
        batch.drop_index("ix_findings_list_overdue")
        batch.create_index(
            "ix_findings_list_overdue", ["due_at", "closed_at", "reported_at", "submitted_at", "status"]
        )
        batch.create_index("ix_findings_overdue", ["status", "due_at"])
        batch.create_index(
            "ix_findings_major", ["reported_at", "closed_at"], sqlite_where=MAJOR, postgresql_where=MAJOR
        )
    # When a check took place (coverage, the count of items fixed on the spot): a month's checks, not a town's all.
    op.create_index("ix_inspections_on_site", "inspections", [sa.text("coalesce(onsite_at, submitted_at)")])


def downgrade() -> None:
    op.drop_index("ix_inspections_on_site", table_name="inspections")
    for name in ("stats_periods", "stats_stocks", "stats_close_days", "stats_overdue", "stats_state"):
        op.drop_table(name)
    for name, counts in OLD_CELLS.items():
        key = ("dim", "day", "town", "key")
        _table(name, key, [*_key(*key), *_counts(counts)], sqlite_with_rowid=False)
    key = ("dim", "day", "town", "key")
    _table("stats_running", key, [*_key(*key), *_counts((*OLD_FLOWS, *STOCKS))], sqlite_with_rowid=False)
    op.create_index("ix_stats_flows_value", "stats_flows", ["key", "dim", "day", "town", *OLD_FLOWS])
    for name, counts in OLD_VALUE_CELLS.items():
        key = ("of_dim", "of_key", "day", "dim", "key", "town")
        _table(name, key, [*_key(*key), *_counts(counts)], sqlite_with_rowid=False)
    for name in ("stats_overdue_members", "stats_overdue_passed"):
        _table(name, ("finding_id",), _counts(("finding_id",)))
    _table("stats_close_days", ("day", "town", "days"), [*_key("day", "town"), *_counts(("days", "closed"))])
    for name in ("stats_value_close_days", "stats_value_today_close_days"):
        key = ("of_dim", "day", "of_key", "town", "days")
        _table(name, key, [*_key("of_dim", "day", "of_key", "town"), *_counts(("days", "closed"))])
    _table(
        "stats_state",
        ("id",),
        [
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("through", sa.Date()),
            sa.Column("partial_until", sa.DateTime()),
            sa.Column("values_through", sa.Date()),
        ],
    )
    with op.batch_alter_table("findings") as batch:
        batch.drop_index("ix_findings_major")
        batch.drop_index("ix_findings_overdue")
        batch.drop_index("ix_findings_list_overdue")
        batch.create_index(
            "ix_findings_list_overdue",
            ["due_at", "closed_at", "reported_at", "submitted_at", "status"],
            postgresql_include=["id"],
        )
        batch.create_index(
            "ix_findings_stats_overdue",
            ["status", "due_at", "town", "facility_type", "facility_id", "category", "severity", "mode"],
            postgresql_include=["id", "reported_at", "closed_at"],
        )
        batch.create_index(
            "ix_findings_list_major",
            [
                "severity",
                "reported_at",
                "closed_at",
                "town",
                "facility_type",
                "facility_id",
                "category",
                "mode",
            ],
            postgresql_include=["id"],
        )
