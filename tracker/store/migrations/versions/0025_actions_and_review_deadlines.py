"""escalation actions on record (finding_actions); the 复查 deadline of a submitted rectification

Revision ID: 0025
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("to_whom", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("on_day", sa.Date(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("photos", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_actions_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(["by_user"], ["users.id"], name=op.f("fk_finding_actions_by_user_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finding_actions")),
    )
    op.create_index("ix_finding_actions_finding_id", "finding_actions", ["finding_id"])
    op.create_index("ix_finding_actions_at", "finding_actions", ["at"])
    # Findings waiting for 复查 when this runs get no deadline: the sweep leaves them alone, as before.
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("review_due_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("review_day", sa.Date(), nullable=True))
        batch.add_column(sa.Column("review_remind_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("review_escalation_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("review_level", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_findings_review_reminder", "findings", ["status", "review_remind_at"])
    op.create_index("ix_findings_review_escalation", "findings", ["status", "review_escalation_at"])
    with op.batch_alter_table("rectifications") as batch:
        batch.add_column(sa.Column("review_due_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reviewed_at", sa.DateTime(), nullable=True))
    op.create_index("ix_rectifications_review_due_at", "rectifications", ["review_due_at"])


def downgrade() -> None:
    op.drop_index("ix_rectifications_review_due_at", table_name="rectifications")
    with op.batch_alter_table("rectifications") as batch:
        batch.drop_column("reviewed_at")
        batch.drop_column("review_due_at")
    op.drop_index("ix_findings_review_escalation", table_name="findings")
    op.drop_index("ix_findings_review_reminder", table_name="findings")
    with op.batch_alter_table("findings") as batch:
        for column in (
            "review_level",
            "review_escalation_at",
            "review_remind_at",
            "review_day",
            "review_due_at",
        ):
            batch.drop_column(column)
    op.drop_index("ix_finding_actions_at", table_name="finding_actions")
    op.drop_index("ix_finding_actions_finding_id", table_name="finding_actions")
    op.drop_table("finding_actions")
