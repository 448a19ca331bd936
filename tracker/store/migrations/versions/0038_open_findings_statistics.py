"""statistics of which findings are open, on PostgreSQL: a finding at the facility's side (status ordered) is not
closed, and the planner, taking the two for independent, expected a town's overdue findings to be a tenth of what
they were and sorted them all, instead of walking ix_findings_overdue by deadline to the first 50

Revision ID: 0038
Revises: 0036
"""

from alembic import op

revision = "0038"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE STATISTICS st_findings_open (mcv) ON status, closed_at FROM findings")
        op.execute("ANALYZE findings")  # the statistics are gathered by ANALYZE; until then they are empty


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS st_findings_open")
