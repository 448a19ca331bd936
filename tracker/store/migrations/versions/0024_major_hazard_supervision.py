"""major hazards are supervised (挂牌督办): a notice per major finding, its stages, progress reports

Open major findings get their notice here, numbered per local year in the order they were reported: judged by the
inspector who reported them on the item's basis, the bureau lead of the facility's sector as 包保领导, at stage
`plan` (`rectification` once submitted) with no stage deadline (none is invented after the fact).

Revision ID: 0024
Revises: 0025
"""

import os
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0025"
branch_labels = None
depends_on = None

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def upgrade() -> None:
    op.create_table(
        "supervisions",
        sa.Column("finding_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("supervisor", sa.String(length=100), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("judged_by", sa.Integer(), nullable=True),
        sa.Column("judged_at", sa.DateTime(), nullable=False),
        sa.Column("judged_basis", sa.Text(), nullable=False),
        sa.Column("referred_to", sa.String(length=60), nullable=True),
        sa.Column("referral_answer", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("stage_at", sa.DateTime(), nullable=False),
        sa.Column("stage_due_at", sa.DateTime(), nullable=True),
        sa.Column("stage_remind_at", sa.DateTime(), nullable=True),
        sa.Column("stage_escalation_level", sa.Integer(), nullable=False),
        sa.Column("stage_next_escalation_at", sa.DateTime(), nullable=True),
        sa.Column("progress_due_at", sa.DateTime(), nullable=True),
        sa.Column("progress_overdue_told", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("plan_at", sa.DateTime(), nullable=True),
        sa.Column("plan_by", sa.Integer(), nullable=True),
        sa.Column("interim_verified_at", sa.DateTime(), nullable=True),
        sa.Column("interim_verified_by", sa.Integer(), nullable=True),
        sa.Column("interim_note", sa.Text(), nullable=True),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("accepted_by", sa.Integer(), nullable=True),
        sa.Column("acceptance_note", sa.Text(), nullable=True),
        sa.Column("signed_off_at", sa.DateTime(), nullable=True),
        sa.Column("signed_off_by", sa.Integer(), nullable=True),
        sa.Column("signoff_note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_supervisions_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["users.id"], name=op.f("fk_supervisions_lead_id_users")),
        sa.ForeignKeyConstraint(["judged_by"], ["users.id"], name=op.f("fk_supervisions_judged_by_users")),
        sa.ForeignKeyConstraint(["plan_by"], ["users.id"], name=op.f("fk_supervisions_plan_by_users")),
        sa.ForeignKeyConstraint(
            ["interim_verified_by"], ["users.id"], name=op.f("fk_supervisions_interim_verified_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["accepted_by"], ["users.id"], name=op.f("fk_supervisions_accepted_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["signed_off_by"], ["users.id"], name=op.f("fk_supervisions_signed_off_by_users")
        ),
        sa.PrimaryKeyConstraint("finding_id", name=op.f("pk_supervisions")),
    )
    op.create_index("ix_supervisions_year_number", "supervisions", ["year", "number"], unique=True)
    op.create_index("ix_supervisions_stage", "supervisions", ["stage"])
    op.create_table(
        "supervision_numbers",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_supervision_numbers")),
    )
    op.create_table(
        "supervision_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("by_user", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"], ["findings.id"], name=op.f("fk_supervision_reports_finding_id_findings")
        ),
        sa.ForeignKeyConstraint(["by_user"], ["users.id"], name=op.f("fk_supervision_reports_by_user_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_reports")),
    )
    op.create_index("ix_supervision_reports_finding_id", "supervision_reports", ["finding_id"])
    _number_open_majors()


def _number_open_majors() -> None:
    bind = op.get_bind()
    supervisor = os.environ.get("TRACKER_BUREAU_NAME", "").strip() or "县民政局"
    rows = bind.execute(
        sa.text(
            "SELECT f.id, f.reported_at, f.status, f.basis, i.inspector_id, fa.sector, r.agency, r.answer"
            " FROM findings f JOIN inspections i ON i.id = f.inspection_id"
            " JOIN facilities fa ON fa.id = f.facility_id"
            " LEFT JOIN referrals r ON r.finding_id = f.id"
            " WHERE f.severity = 'major' AND f.status <> 'closed' ORDER BY f.reported_at, f.id"
        )
    ).all()
    leads = {}
    for sector, user_id in bind.execute(
        sa.text(
            "SELECT us.sector, MIN(u.id) FROM users u JOIN user_sectors us ON us.user_id = u.id"
            " WHERE u.role = 'bureau_lead' AND u.active GROUP BY us.sector"
        )
    ).all():
        leads[sector] = user_id
    last: dict[int, int] = {}
    for fid, reported_at, status, basis, inspector_id, sector, agency, answer in rows:
        if isinstance(reported_at, str):  # SQLite hands a plain query's timestamps back as text
            reported_at = datetime.fromisoformat(reported_at)
        year = reported_at.replace(tzinfo=UTC).astimezone(LOCAL_TZ).year
        last[year] = last.get(year, 0) + 1
        bind.execute(
            sa.text(
                "INSERT INTO supervisions (finding_id, year, number, supervisor, lead_id, judged_by, judged_at,"
                " judged_basis, referred_to, referral_answer, stage, stage_at, stage_escalation_level,"
                " progress_overdue_told) VALUES (:fid, :year, :number, :supervisor, :lead, :judge, :at,"
                " :basis, :agency, :answer, :stage, :at, 0, :no)"
            ).bindparams(sa.bindparam("no", type_=sa.Boolean())),
            {
                "fid": fid,
                "year": year,
                "number": last[year],
                "supervisor": supervisor,
                "lead": leads.get(sector),
                "judge": inspector_id,
                "at": reported_at,
                "basis": basis or "",
                "agency": agency,
                "answer": answer,
                "stage": "rectification" if status == "submitted" else "plan",
                "no": False,
            },
        )
    for year, number in last.items():
        bind.execute(
            sa.text("INSERT INTO supervision_numbers (year, last_number) VALUES (:year, :number)"),
            {"year": year, "number": number},
        )


def downgrade() -> None:
    op.drop_index("ix_supervision_reports_finding_id", table_name="supervision_reports")
    op.drop_table("supervision_reports")
    op.drop_table("supervision_numbers")
    op.drop_index("ix_supervisions_stage", table_name="supervisions")
    op.drop_index("ix_supervisions_year_number", table_name="supervisions")
    op.drop_table("supervisions")
