"""orders carry a number per year (printed as <abbr>〔YYYY〕N号), counted in order_numbers

Orders issued before are numbered here in the order they were issued, per local (China Standard Time) year.

Revision ID: 0021
Revises: 0020
"""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    op.add_column("orders", sa.Column("year", sa.Integer(), nullable=True))
    op.add_column("orders", sa.Column("number", sa.Integer(), nullable=True))
    op.create_table(
        "order_numbers",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_order_numbers")),
    )
    bind = op.get_bind()
    issued = bind.execute(sa.text("SELECT id, issued_at FROM orders ORDER BY issued_at, id")).all()
    last: dict[int, int] = {}
    for order_id, issued_at in issued:
        if isinstance(issued_at, str):  # SQLite hands a plain query's timestamps back as text
            issued_at = datetime.fromisoformat(issued_at)
        year = issued_at.replace(tzinfo=UTC).astimezone(LOCAL_TZ).year
        last[year] = last.get(year, 0) + 1
        bind.execute(
            sa.text("UPDATE orders SET year = :year, number = :number WHERE id = :id"),
            {"year": year, "number": last[year], "id": order_id},
        )
    for year, number in last.items():
        bind.execute(
            sa.text("INSERT INTO order_numbers (year, last_number) VALUES (:year, :number)"),
            {"year": year, "number": number},
        )
    op.create_index("ix_orders_year_number", "orders", ["year", "number"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_orders_year_number", table_name="orders")
    op.drop_table("order_numbers")
    # Plain DROP COLUMN, not a batch: on SQLite a batch copies the table, and dropping the old copy of a table
    # findings refer to fails with foreign keys on.
    op.drop_column("orders", "number")
    op.drop_column("orders", "year")
