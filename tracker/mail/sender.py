"""The mailer: claims queued rows with a conditional update, delivers them over one SMTP connection,
and stores each failure on its row with the time of the next try."""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import aiosmtplib
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.clock import Clock
from tracker.config import Settings
from tracker.documents.closure import closure_pdf_file, finding_of_attachment
from tracker.documents.kept import order_documents_for
from tracker.documents.order import OrderMissing, order_of_attachment
from tracker.mail.queue import unwritten
from tracker.service.notify import order_mail
from tracker.store.db import read_only
from tracker.store.tables import mail
from tracker.store.writer import write

log = logging.getLogger("tracker.mailer")
MAX_ATTEMPTS = 12
CLAIM_FOR = timedelta(minutes=2)


def retry_delay(attempts: int, base: float = 5.0) -> timedelta:
    """Back off 5 s, 10 s, 20 s … up to an hour between tries."""
    return timedelta(seconds=min(3600.0, base * 2 ** (attempts - 1)))


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


class AttachmentError(Exception):
    """What a mail row asks to attach cannot be made; the row is tried again later."""


def _attachments_of(
    engine: AsyncEngine, rows: list, settings: Settings | None = None
) -> dict[int, asyncio.Future]:
    """The attachments of a batch, one future per row that has any. The order PDFs of the whole batch are looked
    up together (tracker.documents.kept): a kept one is ready at once, one to print is printed in a printer
    process while earlier rows are sent. A 销号 document (rare) is printed each time."""
    out: dict[int, asyncio.Future] = {}
    orders = {row.id: order_of_attachment(row.attachment) for row in rows if row.attachment}
    wanted = sorted({order_id for order_id in orders.values() if order_id is not None})
    looked_up = asyncio.ensure_future(order_documents_for(engine, wanted, settings)) if wanted else None

    async def order_pdf(name: str, order_id: int) -> list[Attachment]:
        assert looked_up is not None
        try:
            ready = (await asyncio.shield(looked_up)).get(order_id)
            if ready is None:
                raise OrderMissing(f"no order with id {order_id}")
            # Shielded: a printing given up here is still kept, and shared with any other waiting for it.
            kept = await asyncio.shield(ready)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            raise AttachmentError(f"cannot render {name}: {error!r}") from error
        return [Attachment(kept.filename, "application/pdf", kept.pdf)]

    async def closure(name: str, finding_id: int) -> list[Attachment]:
        try:
            file_name, data = await closure_pdf_file(engine, finding_id)
        except Exception as error:
            raise AttachmentError(f"cannot render {name}: {error!r}") from error
        return [Attachment(file_name, "application/pdf", data)]

    for row in rows:
        name = row.attachment
        if not name:
            continue
        order_id, finding_id = orders[row.id], finding_of_attachment(name)
        if order_id is not None:
            out[row.id] = asyncio.ensure_future(order_pdf(name, order_id))
        elif finding_id is not None:  # a major hazard's 销号 document, filed upward
            out[row.id] = asyncio.ensure_future(closure(name, finding_id))
        else:
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(AttachmentError(f"unknown attachment {name!r}"))
            out[row.id] = failed
    if looked_up is not None:
        looked_up.add_done_callback(_retrieved)
    return out


def _retrieved(future: asyncio.Future) -> None:
    """A future nobody may await (its row not reached): its exception is not reported as never retrieved."""
    if not future.cancelled():
        future.exception()


def build_message(row, sender: str, attachments: Sequence[Attachment] = ()) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.to_addr
    message["Subject"] = row.subject
    message["Date"] = format_datetime(row.created_at)
    # A stable id: a receiver that sees it twice can tell it is the same message.
    message["Message-ID"] = f"<tracker-mail-{row.id}@{parseaddr(sender)[1].split('@')[-1]}>"
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    for attachment in attachments:
        maintype, subtype = attachment.content_type.split("/", 1)
        message.add_attachment(
            attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return message


class SmtpTarget:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.hostname = parts.hostname or "localhost"
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            use_tls=self.use_tls,
            username=self.username,
            password=self.password,
            timeout=30,
        )


async def claim(engine: AsyncEngine, holder: str, now: datetime, limit: int = 50) -> list:
    async def claiming(conn: AsyncConnection) -> list:
        ids = (
            (
                await conn.execute(
                    select(mail.c.id)
                    .where(mail.c.status == "queued", mail.c.next_attempt_at <= now)
                    .where((mail.c.claimed_until.is_(None)) | (mail.c.claimed_until < now))
                    .order_by(mail.c.id)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        if not ids:
            return []
        # "Update where unclaimed; the rows I changed are mine": safe with several mailers.
        claimed = await conn.execute(
            update(mail)
            .where(mail.c.id.in_(ids), mail.c.status == "queued")
            .where((mail.c.claimed_until.is_(None)) | (mail.c.claimed_until < now))
            .values(claimed_until=now + CLAIM_FOR, claimed_by=holder)
            .returning(*mail.c)
        )
        return sorted(claimed.all(), key=lambda row: row.id)

    return await write(engine, claiming)


async def deliver_batch(
    engine: AsyncEngine,
    target: SmtpTarget,
    sender: str,
    clock: Clock,
    holder: str,
    retry_base: float = 5.0,
    settings: Settings | None = None,
) -> int:
    """Deliver what this mailer claimed over one connection, reconnecting after a dropped one. Every
    claimed row ends sent, failed for good, or queued again with its error and the time of its next try.

    A sent row is marked sent while the next message is being built, and that mark is committed before the next
    message goes out: at any moment at most one message is out and not yet on record, as when each mark was
    awaited at once, so a mailer killed mid-batch sends again at most the one message it was sending.

    An order's mail is written here, as it goes (tracker.service.notify.order_mail), with the `settings`' secret
    key and base URL for its link; what was sent is kept on its row."""
    rows = await claim(engine, holder, clock.now())
    if not rows:
        return 0
    # The batch's attachments are looked up at once and made ready (kept, or printed) while earlier rows are sent.
    ahead = _attachments_of(engine, rows, settings)
    client: aiosmtplib.SMTP | None = None
    recording: asyncio.Task | None = None  # the mark of the last message sent

    async def settle() -> None:
        nonlocal recording
        if recording is not None:
            done, recording = recording, None
            # Shielded: a mailer stopped here still records what it sent, or it would send it again.
            await asyncio.shield(done)

    async def failed(failing: list, error: str, *, permanent: bool) -> None:
        await settle()
        await _failed(engine, failing, error, clock.now(), permanent=permanent, retry_base=retry_base)

    try:
        for n, row in enumerate(rows):
            try:
                if client is None or not client.is_connected:
                    client = target.client()
                    await client.connect()
            except (aiosmtplib.SMTPException, OSError) as error:
                # The server is away: everything left waits for its next try.
                await failed(rows[n:], f"cannot connect: {error}", permanent=False)
                break
            try:
                attachments = await ahead.pop(row.id) if row.id in ahead else []
            except Exception as error:  # this row's attachment, tried again later; the rest go on
                log.exception("mail %s: attachment failed", row.id)
                reason = str(error) if isinstance(error, AttachmentError) else f"attachment: {error!r}"
                await failed([row], reason, permanent=False)
                continue
            if row.kind == "order" and unwritten(row):
                try:
                    row = await _written(engine, settings, row, clock.now())
                except Exception as error:  # the database away, or the order gone: tried again later
                    log.exception("mail %s: cannot write the order's mail", row.id)
                    await failed([row], f"cannot write the message: {error!r}", permanent=False)
                    continue
            try:
                message = build_message(row, sender, attachments)
            except Exception as error:  # noqa: BLE001 - a row that cannot be made into a message never will be
                await failed([row], f"cannot build the message: {error}", permanent=True)
                continue
            await settle()  # the previous message is on record before this one goes
            try:
                await client.send_message(message)
            except aiosmtplib.SMTPRecipientsRefused as error:
                await failed([row], str(error), permanent=True)
            except aiosmtplib.SMTPResponseException as error:
                await failed([row], f"{error.code} {error.message}", permanent=500 <= error.code < 600)
            except (aiosmtplib.SMTPException, OSError) as error:
                await failed([row], str(error) or repr(error), permanent=False)
                client.close()
            except Exception as error:  # one row's failure, stored on it; the others still go out
                log.exception("mail %s: unexpected error while sending", row.id)
                await failed([row], repr(error), permanent=False)
                client.close()  # what the connection was in the middle of is unknown: start a new one
            else:
                recording = asyncio.ensure_future(_sent(engine, row, clock.now()))
        await settle()
    finally:
        if recording is not None:  # cancelled or failed mid-batch: the last mark still goes in
            await asyncio.shield(recording)
        # Rows not reached (the server went away) come again; a printing under way is still finished and kept.
        for left in ahead.values():
            left.cancel()
        await asyncio.gather(*ahead.values(), return_exceptions=True)
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except aiosmtplib.SMTPException:
                client.close()
    return len(rows)


_SENT = (
    update(mail)
    .where(mail.c.id == bindparam("row"))
    .values(status="sent", sent_at=bindparam("at"), attempts=bindparam("tries"), last_error=None)
)


_SENT_AS_WRITTEN = _SENT.values(
    subject=bindparam("subject"), text_body=bindparam("text"), html_body=bindparam("html")
)


async def _written(engine: AsyncEngine, settings: Settings | None, row, now: datetime) -> SimpleNamespace:
    """A row queued unwritten, with its message written now (an order's mail); marked `written` so that what is
    sent is kept on the row."""
    if settings is None:
        raise RuntimeError(
            "the mailer writes an order's mail with the settings (secret key, base URL): none given"
        )
    order_id = order_of_attachment(row.attachment or "")
    if order_id is None:
        raise AttachmentError(f"an order's mail without its order: {row.attachment!r}")
    async with read_only(engine) as conn:
        message = await order_mail(conn, settings, order_id, now)
    written = {
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "written": True,
    }
    return SimpleNamespace(**{**row._mapping, **written})


async def _sent(engine: AsyncEngine, row, now: datetime) -> None:
    async def mark(conn: AsyncConnection) -> None:
        sent = {"row": row.id, "at": now, "tries": row.attempts + 1}
        if getattr(row, "written", False):
            written = {"subject": row.subject, "text": row.text_body, "html": row.html_body}
            await conn.execute(_SENT_AS_WRITTEN, {**sent, **written})
        else:
            await conn.execute(_SENT, sent)

    await write(engine, mark)


async def _failed(
    engine: AsyncEngine, rows: list, error: str, now: datetime, *, permanent: bool, retry_base: float = 5.0
) -> None:
    async def record(conn: AsyncConnection) -> None:
        for row in rows:
            attempts = row.attempts + 1
            give_up = permanent or attempts >= MAX_ATTEMPTS
            await conn.execute(
                update(mail)
                .where(mail.c.id == row.id, mail.c.status == "queued")
                .values(
                    attempts=attempts,
                    last_error=error[:2000],
                    claimed_until=None,
                    status="failed" if give_up else "queued",
                    next_attempt_at=now if give_up else now + retry_delay(attempts, retry_base),
                )
            )

    await write(engine, record)
    log.warning(
        "mail %s not delivered (%s): %s",
        [r.id for r in rows],
        "gave up" if permanent else "will retry",
        error,
    )


async def run_mailer(
    engine: AsyncEngine,
    smtp_url: str,
    sender: str,
    clock: Clock,
    stop: asyncio.Event,
    poll_seconds: float = 1.0,
    retry_base: float = 5.0,
    settings: Settings | None = None,
) -> None:
    target = SmtpTarget(smtp_url)
    holder = f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    log.info("mailer %s delivering to %s:%s", holder, target.hostname, target.port)
    while not stop.is_set():
        try:
            handled = await deliver_batch(engine, target, sender, clock, holder, retry_base, settings)
        except Exception as error:  # noqa: BLE001 - the database busy or away: wait and go on
            log.warning("mailer loop error: %r", error)
            handled = 0
        if handled == 0:
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
