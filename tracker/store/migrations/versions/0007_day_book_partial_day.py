"""the day book also holds the day in progress, up to a moment

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("stats_state") as batch:
        batch.add_column(sa.Column("partial_until", tracker.store.tables.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("stats_state") as batch:
        batch.drop_column("partial_until")
