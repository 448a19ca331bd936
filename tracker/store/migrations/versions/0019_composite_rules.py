"""composite rules: the finding a rule made and its element findings, referrals to another agency, local
documents adopting a rule, and what an advising rule said of an inspection

Revision ID: 0019
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

import tracker.store.tables

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "finding_links",
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("element_finding_id", sa.Integer(), nullable=False),
        sa.Column("element", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_finding_links_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(
            ["element_finding_id"], ["findings.id"], name=op.f("fk_finding_links_element_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("finding_id", "element_finding_id", name=op.f("pk_finding_links")),
    )
    op.create_index(
        op.f("ix_finding_links_element_finding_id"), "finding_links", ["element_finding_id"], unique=False
    )
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=60), nullable=False),
        sa.Column("referred_at", tracker.store.tables.UTCDateTime(), nullable=False),
        sa.Column("answered_at", tracker.store.tables.UTCDateTime(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_referrals_finding_id_findings")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
        sa.UniqueConstraint("finding_id", name=op.f("uq_referrals_finding_id")),
    )
    op.create_table(
        "rule_adoptions",
        sa.Column("rule_code", sa.String(length=60), nullable=False),
        sa.Column("document", sa.String(length=200), nullable=False),
        sa.Column("effective", sa.Date(), nullable=False),
        sa.Column("adopted_at", tracker.store.tables.UTCDateTime(), nullable=False),
        sa.Column("adopted_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("rule_code", name=op.f("pk_rule_adoptions")),
    )
    op.create_table(
        "rule_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer(), nullable=False),
        sa.Column("rule_code", sa.String(length=60), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("item_codes", sa.JSON(), nullable=False),
        sa.Column("created_at", tracker.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inspection_id"], ["inspections.id"], name=op.f("fk_rule_notes_inspection_id_inspections")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_notes")),
    )
    op.create_index(op.f("ix_rule_notes_inspection_id"), "rule_notes", ["inspection_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rule_notes_inspection_id"), table_name="rule_notes")
    op.drop_table("rule_notes")
    op.drop_table("rule_adoptions")
    op.drop_table("referrals")
    op.drop_index(op.f("ix_finding_links_element_finding_id"), table_name="finding_links")
    op.drop_table("finding_links")
