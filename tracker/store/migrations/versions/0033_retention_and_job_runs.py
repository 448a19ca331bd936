"""retention: indexes to prune handled events and reduce old mail by age; the last run of each scheduler job

Revision ID: 0033
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = "0033"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_handled_events_handled_at"), "handled_events", ["handled_at"])
    op.create_index(op.f("ix_mail_created_at"), "mail", ["created_at"])
    op.create_table(
        "job_runs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    op.drop_index(op.f("ix_mail_created_at"), table_name="mail")
    op.drop_index(op.f("ix_handled_events_handled_at"), table_name="handled_events")
