"""Mail is queued as rows in the transaction that caused it, never sent inline."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from tracker.mail.render import Rendered
from tracker.store.db import insert_ignoring_duplicates
from tracker.store.tables import mail

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

UNWRITTEN = Rendered(subject="", text="", html="")  # a row the mailer writes as it sends it


async def queue_mail(
    conn: AsyncConnection,
    *,
    kind: str,
    about: str,
    to: str,
    message: Rendered | None,
    now: datetime,
    variant: str = "",
    attachment: str | None = None,
) -> bool:
    """Queue one message; False when the same (subject matter, recipient, kind) was queued before.
    `attachment` names what the mailer attaches when it sends (e.g. tracker.documents.order.attachment_for).
    A `message` of None is written by the mailer when it sends it (an order's: tracker.service.notify.order_mail),
    and kept on the row then."""
    key = f"{kind}|{about}|{variant}|{to.lower()}"
    message = message or UNWRITTEN
    result = await conn.execute(
        insert_ignoring_duplicates(conn, mail),
        {
            "dedupe_key": key,
            "kind": kind,
            "about": about,
            "to_addr": to,
            "subject": message.subject,
            "text_body": message.text,
            "html_body": message.html,
            "status": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "attachment": attachment,
        },
    )
    return result.rowcount == 1


def unwritten(row) -> bool:
    """Whether a queued row is still to be written (queued with no message)."""
    return not row.text_body and not row.html_body


def by_recipient(told: Iterable[tuple[str, K, T]]) -> dict[str, dict[K, list[T]]]:
    """What a sweep tells each address, from (address, part of the letter, line) triples: address -> part -> lines,
    in address order. Addresses are compared as the queue's key compares them (case aside) and keep the spelling
    they first came with, so two spellings of one address make one letter, not a second the queue would drop."""
    spelled: dict[str, str] = {}
    grouped: dict[str, dict[K, list[T]]] = {}
    for to, part, line in told:
        to = spelled.setdefault(to.lower(), to)
        grouped.setdefault(to, {}).setdefault(part, []).append(line)
    return dict(sorted(grouped.items(), key=lambda letter: letter[0].lower()))
