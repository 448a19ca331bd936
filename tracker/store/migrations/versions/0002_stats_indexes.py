"""indexes for the dashboard's query layer (tracker.stats)

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_findings_reported_at", "findings", ["reported_at"])
    op.create_index("ix_findings_closed_at", "findings", ["closed_at"])
    op.create_index("ix_findings_repeat", "findings", ["facility_id", "item_code", "reported_at"])
    op.create_index("ix_finding_history_action_at", "finding_history", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_finding_history_action_at", table_name="finding_history")
    op.drop_index("ix_findings_repeat", table_name="findings")
    op.drop_index("ix_findings_closed_at", table_name="findings")
    op.drop_index("ix_findings_reported_at", table_name="findings")
