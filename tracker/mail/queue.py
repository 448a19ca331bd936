"""Mail is queued as rows in the transaction that caused it, never sent inline."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.mail.render import Rendered
from tracker.store.db import insert_ignoring_duplicates
from tracker.store.tables import mail


async def queue_mail(
    conn: AsyncConnection,
    *,
    kind: str,
    about: str,
    to: str,
    message: Rendered,
    now: datetime,
    variant: str = "",
    attachment: str | None = None,
) -> bool:
    """Queue one message; False when the same (subject matter, recipient, kind) was queued before.
    `attachment` names what the mailer attaches when it sends (e.g. tracker.documents.order.attachment_for)."""
    key = f"{kind}|{about}|{variant}|{to.lower()}"
    result = await conn.execute(
        insert_ignoring_duplicates(conn, mail).values(
            dedupe_key=key,
            kind=kind,
            about=about,
            to_addr=to,
            subject=message.subject,
            text_body=message.text,
            html_body=message.html,
            status="queued",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            attachment=attachment,
        )
    )
    return result.rowcount == 1
