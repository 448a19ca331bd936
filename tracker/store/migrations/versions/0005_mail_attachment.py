"""mail attachments (the order PDF, rendered by the mailer) and requests for more time

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("mail") as batch:
        batch.add_column(sa.Column("attachment", sa.String(length=100), nullable=True))
    op.create_table(
        "extension_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", tracker.store.tables.UTCDateTime(), nullable=False),
        sa.Column("due_day_before", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", tracker.store.tables.UTCDateTime(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("new_due_day", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_extension_requests_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_extension_requests_requested_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_extension_requests_decided_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_requests")),
    )
    op.create_index("ix_extension_requests_finding_id", "extension_requests", ["finding_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_extension_requests_finding_id", table_name="extension_requests")
    op.drop_table("extension_requests")
    with op.batch_alter_table("mail") as batch:
        batch.drop_column("attachment")
