"""campaign publications

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_publications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign", sa.String(length=60), nullable=False),
        sa.Column("campaign_version", sa.String(length=40), nullable=False),
        sa.Column("facility_types", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("published_at", tracker.store.tables.UTCDateTime(), nullable=False),
        sa.Column("published_by", sa.String(length=100), nullable=False),
        sa.Column("withdrawn_at", tracker.store.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_publications")),
    )
    op.create_index(
        "ix_campaign_publications_period", "campaign_publications", ["starts_on", "ends_on"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_campaign_publications_period", table_name="campaign_publications")
    op.drop_table("campaign_publications")
