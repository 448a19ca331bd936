"""indexes for pages narrowed to one town, facility or category: open majors, and one value's days

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MAJOR = ["severity", "reported_at", "closed_at", "town", "facility_type", "facility_id", "category", "mode"]


def upgrade() -> None:
    op.drop_index("ix_findings_list_major", table_name="findings")
    op.create_index("ix_findings_list_major", "findings", MAJOR)
    op.create_index("ix_stats_flows_value", "stats_flows", ["key", "dim", "day"])


def downgrade() -> None:
    op.drop_index("ix_stats_flows_value", table_name="stats_flows")
    op.drop_index("ix_findings_list_major", table_name="findings")
    op.create_index("ix_findings_list_major", "findings", ["severity", "reported_at", "closed_at"])
