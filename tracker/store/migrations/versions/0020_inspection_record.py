"""who inspected, when, with whom present; items fixed during the visit; downgrades that wait for a decision

Revision ID: 0020
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0020"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("warrant_no", sa.String(length=40), nullable=True))
    with op.batch_alter_table("inspections") as batch:
        batch.add_column(sa.Column("onsite_at", tracker.store.tables.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("person_present", sa.String(length=100), nullable=False, server_default="")
        )
    with op.batch_alter_table("inspection_items") as batch:
        batch.alter_column(
            "result", existing_type=sa.String(length=4), type_=sa.String(length=10), existing_nullable=False
        )
    with op.batch_alter_table("findings") as batch:
        batch.add_column(sa.Column("severity_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("downgrade", sa.String(length=10), nullable=True))
    op.create_table(
        "inspection_inspectors",
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_inspectors_inspection_id_inspections"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_inspection_inspectors_user_id_users")
        ),
        sa.PrimaryKeyConstraint("inspection_id", "user_id", name=op.f("pk_inspection_inspectors")),
    )
    # Every earlier inspection was made by its submitter alone, as far as anything recorded says.
    op.execute(
        "INSERT INTO inspection_inspectors (inspection_id, user_id, position) SELECT id, inspector_id, 0 FROM inspections"
    )
    op.create_table(
        "inspection_item_photos",
        sa.Column("photo_id", sa.String(length=36), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_inspection_item_photos_inspection_id_inspections"),
        ),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name=op.f("fk_inspection_item_photos_photo_id_photos")
        ),
        sa.PrimaryKeyConstraint("photo_id", name=op.f("pk_inspection_item_photos")),
    )
    op.create_index(
        "ix_inspection_item_photos_inspection_id", "inspection_item_photos", ["inspection_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_inspection_item_photos_inspection_id", table_name="inspection_item_photos")
    op.drop_table("inspection_item_photos")
    op.drop_table("inspection_inspectors")
    # Plain DROP COLUMN, not a batch: on SQLite a batch copies the table, and dropping the old copy of a table
    # other rows refer to fails with foreign keys on.
    op.drop_column("findings", "downgrade")
    op.drop_column("findings", "severity_reason")
    # The older schema has no word for an item fixed during the visit: it was in order when the visit ended.
    op.execute("UPDATE inspection_items SET result = 'pass' WHERE result = 'fixed'")
    with op.batch_alter_table("inspection_items") as batch:
        batch.alter_column(
            "result", existing_type=sa.String(length=10), type_=sa.String(length=4), existing_nullable=False
        )
    op.drop_column("inspections", "person_present")
    op.drop_column("inspections", "onsite_at")
    op.drop_column("users", "warrant_no")
