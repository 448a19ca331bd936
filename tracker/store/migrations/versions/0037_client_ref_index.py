"""an index on inspections.client_ref: a POST looks its ref up among everyone's inspections, to refuse another
person's, and without it read the whole table

Revision ID: 0037
Revises: 0034
"""

from alembic import op

revision = "0037"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_inspections_client_ref", "inspections", ["client_ref"])


def downgrade() -> None:
    op.drop_index("ix_inspections_client_ref", table_name="inspections")
