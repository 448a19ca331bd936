"""each facility's register of what expires: equipment inspections, the fire system's annual test, licences and
staff certificates, with how far its reminders have gone and the finding a lapse raised

Revision ID: 0035
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0032"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=60), server_default="", nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("stage", sa.Integer(), server_default="0", nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=True),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_certificates_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_certificates_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], name=op.f("fk_certificates_updated_by_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint(
            "facility_id", "kind", "label", name=op.f("uq_certificates_facility_id_kind_label")
        ),
    )
    op.create_index(op.f("ix_certificates_stage_expires_on"), "certificates", ["stage", "expires_on"])


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_stage_expires_on"), table_name="certificates")
    op.drop_table("certificates")
