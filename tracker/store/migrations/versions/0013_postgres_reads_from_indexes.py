"""on PostgreSQL, the day book's keys carry its counts and the lists' indexes the ids: read from the index alone

SQLite stores the day book's rows in key order, so a range of cells is read in place. PostgreSQL keeps each row
where it was written: the weekly trend's cells of twelve weeks lay on some 450 blocks (3.2 ms at a million
findings), a month's days to close on 250. With the counts in the key's index, they are read from it alone
(1.3 and 0.5 ms). The lists of open majors and of overdue findings (now, or at a past moment) checked each
candidate's row for closed_at; with the id in their indexes, a page of ids is found from the index alone (open
majors 1.7 to 0.9 ms, overdue at October's end 1.1 to 0.7). SQLite needs none of it: its indexes carry the
rowid, and nothing changes there.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The tables and their keys and counts as of this revision (a migration keeps the schema of its own time).
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
STOCKS = ["open", "open_major", "overdue"]
CELL = ["dim", "day", "town", "key"]
VALUE_CELL = ["of_dim", "of_key", "day", "dim", "key", "town"]
KEYS = {
    "stats_flows": (CELL, FLOWS),
    "stats_months": (CELL, FLOWS),
    "stats_stocks": (CELL, STOCKS),
    "stats_running": (CELL, FLOWS + STOCKS),
    "stats_close_days": (["day", "town", "days"], ["closed"]),
    "stats_value_months": (VALUE_CELL, FLOWS),
    "stats_value_stocks": (VALUE_CELL, STOCKS),
    "stats_value_close_days": (["of_dim", "day", "of_key", "town", "days"], ["closed"]),
}
MAJOR = ["severity", "reported_at", "closed_at", "town", "facility_type", "facility_id", "category", "mode"]
OVERDUE = ["status", "due_at", "town", "facility_type", "facility_id", "category", "severity", "mode"]
OVERDUE_THEN = ["due_at", "closed_at", "reported_at", "submitted_at", "status"]


def _key(table: str, key: list[str], counts: list[str] | None) -> None:
    include = f" INCLUDE ({', '.join(counts)})" if counts else ""
    op.execute(
        f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}, "
        f"ADD CONSTRAINT pk_{table} PRIMARY KEY ({', '.join(key)}){include}"
    )


def _lists(carry: bool) -> None:
    for name, columns, include in (
        ("ix_findings_list_major", MAJOR, ["id"]),
        ("ix_findings_stats_overdue", OVERDUE, ["id", "reported_at", "closed_at"]),
        ("ix_findings_list_overdue", OVERDUE_THEN, ["id"]),
    ):
        op.drop_index(name, table_name="findings")
        op.create_index(name, "findings", columns, postgresql_include=include if carry else [])


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (key, counts) in KEYS.items():
        _key(table, key, counts)
    _lists(carry=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (key, _) in KEYS.items():
        _key(table, key, None)
    _lists(carry=False)
