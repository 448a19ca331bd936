"""the rectification order's PDF, rendered once and kept with the fingerprint of what it prints

Revision ID: 0032
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = "0032"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_documents",
        sa.Column("order_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("printed", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("rendered_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name=op.f("fk_order_documents_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_documents")),
    )


def downgrade() -> None:
    op.drop_table("order_documents")
