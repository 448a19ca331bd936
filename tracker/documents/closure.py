"""The 销号 document of a major hazard (重大事故隐患治理销号备案表), filed upward when the sector's bureau lead signs it
off: the 挂牌督办 notice number, the unit, the hazard as the order printed it (only the checked basis), the 判定, the
治理方案 with its 五落实, the interim measure and its verification, the rectification, the 验收, the sign-off and
the issuer. Chinese only, in the bureau's name, printed in the order PDF's printer processes with its fonts.

Staff-only words stay off it: the notes of advising rules, a grade's internal reason, a checklist doubt in a basis.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.config import Settings, load_settings
from tracker.documents.printed import GRADE, cn_date, printed_basis
from tracker.documents.printer import print_html
from tracker.domain.supervision import PLAN_FIELDS, notice_number
from tracker.store.db import read_only
from tracker.store.tables import (
    facilities,
    findings,
    rectifications,
    supervisions,
    users,
    verifications,
)
from tracker.text.templating import strict

ATTACHMENT_PREFIX = "closure-pdf:"


class ClosureMissing(LookupError):
    """No major hazard with that id signed off (销号)."""


@dataclass(frozen=True)
class ClosureDocument:
    finding: Row
    facility: Row
    supervision: Row
    names: dict[int, str]  # user id -> name, for everyone who took a step
    rectification: Row | None  # the facility's last report of what it did
    verification: Row | None  # the inspector's passing 复查 of it

    def name(self, user_id: int | None) -> str:
        return self.names.get(user_id, "") if user_id is not None else ""


def attachment_for(finding_id: int) -> str:
    """What the `mail.attachment` column holds for a finding's 销号 document."""
    return f"{ATTACHMENT_PREFIX}{finding_id}"


def finding_of_attachment(attachment: str) -> int | None:
    if not attachment.startswith(ATTACHMENT_PREFIX):
        return None
    rest = attachment[len(ATTACHMENT_PREFIX) :]
    return int(rest) if rest.isdigit() else None


def filename(supervision: Row) -> str:
    """Named by the notice's number, as the document is filed: 重大事故隐患销号备案表〔2026〕8号.pdf."""
    return f"重大事故隐患销号备案表〔{supervision.year}〕{supervision.number}号.pdf"


def ascii_filename(supervision: Row) -> str:
    return f"xiaohao-{supervision.year}-{supervision.number}.pdf"


async def load_closure(conn: AsyncConnection, finding_id: int) -> ClosureDocument:
    supervision = (
        await conn.execute(select(supervisions).where(supervisions.c.finding_id == finding_id))
    ).first()
    if supervision is None or supervision.signed_off_at is None:
        raise ClosureMissing(f"no major hazard {finding_id} signed off")
    finding = (await conn.execute(select(findings).where(findings.c.id == finding_id))).one()
    facility = (await conn.execute(select(facilities).where(facilities.c.id == finding.facility_id))).one()
    rectification = (
        await conn.execute(
            select(rectifications)
            .where(rectifications.c.finding_id == finding_id)
            .order_by(rectifications.c.id.desc())
            .limit(1)
        )
    ).first()
    verification = (
        await conn.execute(
            select(verifications)
            .where(verifications.c.finding_id == finding_id, verifications.c.accepted)
            .order_by(verifications.c.id.desc())
            .limit(1)
        )
    ).first()
    people = {
        supervision.lead_id,
        supervision.judged_by,
        supervision.interim_verified_by,
        supervision.accepted_by,
        supervision.signed_off_by,
        verification.verified_by if verification else None,
    } - {None}
    names = {
        r.id: (r.name or r.username)
        for r in await conn.execute(
            select(users.c.id, users.c.name, users.c.username).where(users.c.id.in_(people))
        )
    }
    return ClosureDocument(finding, facility, supervision, names, rectification, verification)


def _plan(plan: Any) -> dict[str, str]:
    """The 五落实 as filed; anything missing prints as an empty cell, never as a guess."""
    plan = plan if isinstance(plan, dict) else {}
    filed = {key: str(plan.get(key) or "").strip() for key in PLAN_FIELDS}
    try:  # the API takes the deadline as 2027-03-31; a document writes 2027年3月31日
        filed["deadline"] = cn_date(date.fromisoformat(filed["deadline"]))
    except ValueError:
        pass
    return filed


def render_html(doc: ClosureDocument, settings: Settings | None = None) -> str:
    settings = settings or load_settings()
    s, f = doc.supervision, doc.finding
    return (
        strict()
        .get_template("closure_pdf.html")
        .render(
            issuer=settings.bureau_name,
            number=notice_number(settings.supervision_prefix, s.year, s.number),
            facility=doc.facility,
            supervisor=s.supervisor,
            lead=doc.name(s.lead_id),
            hazard=f.item_zh,
            location=f.description.strip(),
            basis=printed_basis(f.basis),
            grade=GRADE["major"],
            found=cn_date(f.reported_at),
            judged_by=doc.name(s.judged_by),
            judged_at=cn_date(s.judged_at),
            judged_basis=printed_basis(s.judged_basis or ""),
            referred_to=s.referred_to or "",
            referral_answer=(s.referral_answer or "").strip(),
            plan=_plan(s.plan),
            plan_at=cn_date(s.plan_at) if s.plan_at else "",
            interim_verified_by=doc.name(s.interim_verified_by),
            interim_verified_at=cn_date(s.interim_verified_at) if s.interim_verified_at else "",
            interim_note=(s.interim_note or "").strip(),
            rectification=doc.rectification,
            rectified_at=cn_date(doc.rectification.submitted_at) if doc.rectification else "",
            verified_by=doc.name(doc.verification.verified_by) if doc.verification else "",
            verified_at=cn_date(doc.verification.verified_at) if doc.verification else "",
            verification_note=doc.verification.note.strip() if doc.verification else "",
            accepted_by=doc.name(s.accepted_by),
            accepted_at=cn_date(s.accepted_at) if s.accepted_at else "",
            acceptance_note=(s.acceptance_note or "").strip(),
            signed_off_by=doc.name(s.signed_off_by),
            signed_off_at=cn_date(s.signed_off_at),
            signoff_note=(s.signoff_note or "").strip(),
        )
    )


async def closure_pdf(
    engine: AsyncEngine, finding_id: int, settings: Settings | None = None
) -> tuple[Row, bytes]:
    """Read the closed major hazard, then print its 销号 document with no transaction held; with its notice."""
    async with read_only(engine) as conn:
        doc = await load_closure(conn, finding_id)
    return doc.supervision, await print_html(render_html(doc, settings))


async def closure_pdf_file(engine: AsyncEngine, finding_id: int) -> tuple[str, bytes]:
    """The 销号 document with its file name, as the upward mail attaches it."""
    supervision, data = await closure_pdf(engine, finding_id)
    return filename(supervision), data
