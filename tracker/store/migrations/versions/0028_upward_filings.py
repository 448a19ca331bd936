"""a closed major hazard is filed upward: one record per finding, with the addresses mailed the 销号 document

Revision ID: 0028
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "upward_filings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("filed_at", sa.DateTime(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_upward_filings_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upward_filings")),
        sa.UniqueConstraint("finding_id", name=op.f("uq_upward_filings_finding_id")),
    )


def downgrade() -> None:
    op.drop_table("upward_filings")
