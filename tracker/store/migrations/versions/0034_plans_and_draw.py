"""plans of checks drawn at random (双随机): the plan with its seed, seed hash and registers, its checks and teams

Revision ID: 0034
Revises: 0035
"""

import sqlalchemy as sa
from alembic import op

revision = "0034"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("facility_type", sa.String(length=40), nullable=True),
        sa.Column("share", sa.String(length=10), nullable=True),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("team_size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("seed_hash", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.String(length=200), nullable=False),
        sa.Column("register", sa.JSON(), nullable=False),
        sa.Column("register_hash", sa.String(length=64), nullable=False),
        sa.Column("hash_recorded_at", sa.DateTime(), nullable=False),
        sa.Column("drawn_at", sa.DateTime(), nullable=True),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint("name", name=op.f("uq_plans_name")),
    )
    op.create_table(
        "planned_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("own_town", sa.Boolean(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_planned_checks_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name=op.f("fk_planned_checks_inspection_id_inspections")
        ),
        sa.ForeignKeyConstraint(["plan_id"], ["plans.id"], name=op.f("fk_planned_checks_plan_id_plans")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_planned_checks")),
        sa.UniqueConstraint("plan_id", "facility_id", name=op.f("uq_planned_checks_plan_id_facility_id")),
    )
    op.create_index(
        "ix_planned_checks_facility_id_inspection_id", "planned_checks", ["facility_id", "inspection_id"]
    )
    op.create_table(
        "planned_check_inspectors",
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["check_id"],
            ["planned_checks.id"],
            name=op.f("fk_planned_check_inspectors_check_id_planned_checks"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_planned_check_inspectors_user_id_users")
        ),
        sa.PrimaryKeyConstraint("check_id", "user_id", name=op.f("pk_planned_check_inspectors")),
    )
    op.create_index(op.f("ix_planned_check_inspectors_user_id"), "planned_check_inspectors", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_planned_check_inspectors_user_id"), table_name="planned_check_inspectors")
    op.drop_table("planned_check_inspectors")
    op.drop_index("ix_planned_checks_facility_id_inspection_id", table_name="planned_checks")
    op.drop_table("planned_checks")
    op.drop_table("plans")
