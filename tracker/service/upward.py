"""A major hazard signed off (销号) is filed upward (逐级报备): a record on the finding, and the 销号 document mailed to
every address of TRACKER_UPWARD_EMAILS (e.g. 县安委办, 市民政局). With no address configured the record is made all the
same, and says so in the finding's history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.documents.closure import attachment_for
from tracker.domain.supervision import notice_number
from tracker.mail.queue import queue_mail
from tracker.mail.render import render
from tracker.service.context import Context
from tracker.store.db import insert_ignoring_duplicates
from tracker.store.tables import facilities, findings, history, supervisions, upward_filings

NO_ADDRESS = "未配置上报地址（TRACKER_UPWARD_EMAILS），未发送邮件"


async def file_upward(conn: AsyncConnection, ctx: Context, finding_id: int, now: datetime) -> bool:
    """File the closure of a signed-off major hazard, once; False when it is no such hazard or was filed before."""
    supervision = (
        await conn.execute(
            select(supervisions.c.year, supervisions.c.number, supervisions.c.signed_off_at).where(
                supervisions.c.finding_id == finding_id
            )
        )
    ).first()
    if supervision is None or supervision.signed_off_at is None:
        return False  # closed some other way, or not a major hazard: nothing to file
    recipients = ctx.settings.upward_recipients
    filed = await conn.execute(
        insert_ignoring_duplicates(conn, upward_filings).values(
            finding_id=finding_id, filed_at=now, recipients=recipients
        )
    )
    if filed.rowcount != 1:
        return False
    await conn.execute(
        insert(history).values(
            finding_id=finding_id,
            at=now,
            action="filed_upward",
            note="、".join(recipients) or NO_ADDRESS,
            data={"recipients": recipients},
        )
    )
    if not recipients:
        return True
    finding = (await conn.execute(select(findings).where(findings.c.id == finding_id))).one()
    facility = (await conn.execute(select(facilities).where(facilities.c.id == finding.facility_id))).one()
    # Written to other authorities in the bureau's name: Chinese only, as its documents.
    message = render(
        "upward_filing",
        for_staff=False,
        facility=facility,
        findings=[finding],
        issuer=ctx.settings.bureau_name,
        notice_no=notice_number(ctx.settings.supervision_prefix, supervision.year, supervision.number),
    )
    for to in recipients:
        # The PDF is printed by the mailer when it sends, not in this transaction.
        await queue_mail(
            conn,
            kind="upward_filing",
            about=f"finding:{finding_id}",
            to=to,
            message=message,
            now=now,
            attachment=attachment_for(finding_id),
        )
    return True
