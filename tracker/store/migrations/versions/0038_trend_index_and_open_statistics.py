"""the trends' index on the day book's weeks and months, the majors' index covering the dashboard's filters, and
statistics of which findings are open on PostgreSQL

A trend reads 12 weeks or months of one value of a dimension; by the table's key (period, then each town's cells)
it read every cell of every town of those periods. The list of open majors walks the majors by report until it
has 50 of the page's town or category: it read each one's row for them. And a finding at the facility's side
(status ordered) is not closed: the planner, taking the two for independent, expected a town's overdue findings
to be a tenth of what they were and sorted them all, instead of walking ix_findings_overdue by deadline to the
first 50.

Revision ID: 0038
Revises: 0036
"""

import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0036"
branch_labels = None
depends_on = None

MAJOR = sa.text("severity = 'major'")


def _major(columns: list[str], **include: list[str]) -> None:
    op.drop_index("ix_findings_major", table_name="findings")
    op.create_index(
        "ix_findings_major", "findings", columns, sqlite_where=MAJOR, postgresql_where=MAJOR, **include
    )


def upgrade() -> None:
    op.create_index(
        "ix_stats_periods_trend", "stats_periods", ["unit", "of_dim", "of_key", "dim", "start", "key"]
    )
    # Only the majors (3 % of the findings), their filter columns written once with the finding: little to write.
    filters = ["town", "facility_type", "facility_id", "category", "mode"]
    _major(["reported_at", "closed_at", *filters], postgresql_include=["id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_findings_open (mcv) ON status, closed_at FROM findings")
        op.execute("ANALYZE findings")  # the statistics are gathered by ANALYZE; until then they are empty


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS st_findings_open")
    _major(["reported_at", "closed_at"])
    op.drop_index("ix_stats_periods_trend", table_name="stats_periods")
