"""dead letters remember when they were sent again

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("replayed_at", tracker.store.tables.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("replayed_at")
