"""dashboard columns on findings: town, facility type, inspection mode, repeat; covering indexes

The columns are copies written with each finding (tracker.service.reporting) and filled here for the findings
already stored, so the dashboard's queries (tracker.stats) read the findings table alone, from an index.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STATS_COLUMNS = (
    "closed_at",
    "due_at",
    "submitted_at",
    "status",
    "severity",
    "category",
    "facility_id",
    "town",
    "facility_type",
    "mode",
    "is_repeat",
)


def upgrade() -> None:
    op.drop_index("ix_findings_reported_at", table_name="findings")
    op.drop_index("ix_findings_closed_at", table_name="findings")
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("town", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("facility_type", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("mode", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("is_repeat", sa.Boolean(), nullable=True))
    # Backfill: the facility's town and type, the inspection's mode, and whether an earlier finding of the
    # same item at the same facility exists (the definition of a repeat finding in tracker.stats.query).
    op.execute(
        "UPDATE findings SET "
        "town = (SELECT facilities.town FROM facilities WHERE facilities.id = findings.facility_id), "
        "facility_type = (SELECT facilities.type FROM facilities WHERE facilities.id = findings.facility_id), "
        "mode = (SELECT inspections.mode FROM inspections WHERE inspections.id = findings.inspection_id), "
        "is_repeat = EXISTS (SELECT 1 FROM findings AS earlier WHERE earlier.facility_id = findings.facility_id "
        "AND earlier.item_code = findings.item_code AND earlier.reported_at < findings.reported_at)"
    )
    with op.batch_alter_table("findings") as batch:
        batch.alter_column("town", existing_type=sa.String(length=60), nullable=False)
        batch.alter_column("facility_type", existing_type=sa.String(length=40), nullable=False)
        batch.alter_column("mode", existing_type=sa.String(length=20), nullable=False)
        batch.alter_column("is_repeat", existing_type=sa.Boolean(), nullable=False)
    op.create_index("ix_findings_stats_reported", "findings", ["reported_at", *STATS_COLUMNS])
    op.create_index("ix_findings_stats_closed", "findings", ["closed_at", "reported_at", *STATS_COLUMNS[1:]])


def downgrade() -> None:
    op.drop_index("ix_findings_stats_closed", table_name="findings")
    op.drop_index("ix_findings_stats_reported", table_name="findings")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("is_repeat")
        batch.drop_column("mode")
        batch.drop_column("facility_type")
        batch.drop_column("town")
    op.create_index("ix_findings_closed_at", "findings", ["closed_at"])
    op.create_index("ix_findings_reported_at", "findings", ["reported_at"])
