"""facilities say who runs them (ownership) and which sector they belong to; people have sectors

Facilities already registered take the defaults of their type as the checklists gave them when this was
written; the register can change either afterwards.

Revision ID: 0023
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0021"
branch_labels = None
depends_on = None

# type: (sector, ownership), as checklists/facility_types.yaml had them.
DEFAULTS = {
    "nursing_home": ("elderly", "town"),
    "elderly_service_center": ("elderly", "town"),
    "neighbourhood_point": ("elderly", "town"),
    "day_care_center": ("elderly", "town"),
    "meal_point": ("elderly", "town"),
    "children_centre": ("children", "bureau"),
    "child_welfare_institution": ("children", "bureau"),
    "funeral_home": ("social_affairs", "bureau"),
    "cemetery": ("social_affairs", "town"),
    "columbarium": ("social_affairs", "town"),
    "relief_station": ("relief", "bureau"),
    "marriage_registry": ("social_affairs", "bureau"),
    "mental_welfare_institution": ("social_affairs", "bureau"),
    "mental_health_point": ("social_affairs", "town"),
    "community_service_facility": ("social_affairs", "town"),
}


def upgrade() -> None:
    op.add_column(
        "facilities", sa.Column("ownership", sa.String(length=20), nullable=False, server_default="town")
    )
    op.add_column(
        "facilities", sa.Column("sector", sa.String(length=20), nullable=False, server_default="elderly")
    )
    for facility_type, (sector, ownership) in DEFAULTS.items():
        op.execute(
            sa.text(
                "UPDATE facilities SET sector = :sector, ownership = :ownership WHERE type = :type"
            ).bindparams(sector=sector, ownership=ownership, type=facility_type)
        )
    op.create_table(
        "user_sectors",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sector", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sectors_user_id_users")),
        sa.PrimaryKeyConstraint("user_id", "sector", name=op.f("pk_user_sectors")),
    )
    op.create_index("ix_user_sectors_sector", "user_sectors", ["sector"])


def downgrade() -> None:
    op.drop_index("ix_user_sectors_sector", table_name="user_sectors")
    op.drop_table("user_sectors")
    op.drop_column("facilities", "sector")
    op.drop_column("facilities", "ownership")
