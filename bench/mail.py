"""Order mail delivery, the order PDFs attached: tracker's mailer against raw aiosmtplib on the same connections.

    .venv/bin/python bench/mail.py                        # 2,000 order mails, SQLite: 15 to 30 minutes (the printing)
    .venv/bin/python bench/mail.py --mails 300            # quicker
    .venv/bin/python bench/mail.py --database-url postgresql+asyncpg://…   # an empty PostgreSQL database

A real SMTP server, aiosmtpd, runs as a process of its own (this script with --sink), accepting and discarding
every message. `--mails` orders are raised as tracker raises them, each with its order mail queued
(bench/orders.py). Then:

1. First delivery: tracker's mailer (`tracker.mail.sender.deliver_batch`, in this process, as `tracker mailer` runs
   it) delivers every order mail, printing each order's PDF on the way (the first time it is needed) in its printer
   processes and keeping it. The resident memory of the mailer (this process) and of its printer processes is
   read before and after.
2. Side by side, in rounds of `--round` mails, on one connection per 50 messages (the mailer's batch) each:
   - raw aiosmtplib, each message built then sent: what a bare client does with the same rows and the kept PDFs,
     `build_message` (the same standard-library EmailMessage, PDF attached) then `SMTP.send_message`;
   - raw aiosmtplib, the same messages built beforehand: `send_message` alone;
   - tracker's mailer, the same rows queued again and delivered as a retry is: claimed, the kept PDFs looked up
     (their fingerprints checked against what the orders print now), each message built, sent and marked sent in
     a transaction of its own.
   Each is timed from its first connection to its last message.

The last line is `ratio <raw, built then sent, seconds ÷ mailer seconds>` over all rounds (the mailer's rate as a
fraction of the raw client's); the line before it gives the ratio to sending messages built beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import aiosmtplib
from orders import fresh_database, log, make_orders, rss_mb, settings_for
from sqlalchemy import func, select, update

from tracker.clock import SystemClock
from tracker.documents import printer
from tracker.documents.kept import order_documents_for
from tracker.documents.order import order_of_attachment
from tracker.mail.sender import Attachment, SmtpTarget, build_message, deliver_batch
from tracker.store.tables import mail

SENDER = "tracker@bench.example.cn"
BATCH = 50  # the mailer's claim: one connection per batch


def serve_sink(port: int) -> None:
    """The SMTP server: accepts every message and keeps nothing."""
    from aiosmtpd.controller import Controller

    class Discard:
        async def handle_DATA(self, server, session, envelope) -> str:
            return "250 OK"

    controller = Controller(Discard(), hostname="127.0.0.1", port=port, data_size_limit=64 * 1024 * 1024)
    controller.start()
    print("ready", flush=True)
    sys.stdin.read()  # until the bench closes our stdin
    controller.stop()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def queued(engine) -> int:
    async with engine.connect() as conn:
        return await conn.scalar(select(func.count()).select_from(mail).where(mail.c.status == "queued"))


async def mailer_until_done(engine, target: SmtpTarget, settings) -> float:
    """Run the mailer's batches until nothing is left queued; the seconds it took."""
    clock = SystemClock()
    started = time.perf_counter()
    while await deliver_batch(
        engine, target, SENDER, clock, "bench-mailer", retry_base=0.1, settings=settings
    ):
        pass
    left = await queued(engine)
    if left:
        raise SystemExit(f"the mailer left {left} mails queued")
    return time.perf_counter() - started


async def raw_send(target: SmtpTarget, messages: list) -> float:
    """aiosmtplib alone: `messages` (EmailMessage objects, or callables that build one) over one connection per
    50, as the mailer uses one per batch of 50."""
    started = time.perf_counter()
    for k in range(0, len(messages), BATCH):
        client = aiosmtplib.SMTP(hostname=target.hostname, port=target.port, timeout=30)
        await client.connect()
        for message in messages[k : k + BATCH]:
            await client.send_message(message() if callable(message) else message)
        await client.quit()
    return time.perf_counter() - started


async def side(which: str, engine, target: SmtpTarget, chunk: list, makers: list) -> float:
    if which == "raw":
        return await raw_send(target, makers)
    if which == "built":
        return await raw_send(target, [make() for make in makers])
    async with engine.begin() as conn:
        await conn.execute(
            update(mail)
            .where(mail.c.id.in_([r.id for r in chunk]))
            .values(status="queued", claimed_until=None, sent_at=None, next_attempt_at=datetime.now(UTC))
        )
    return await mailer_until_done(engine, target)


def attachments(row, kept: dict) -> list[Attachment]:
    order_id = order_of_attachment(row.attachment)
    return [Attachment(kept[order_id].filename, "application/pdf", kept[order_id].pdf)] if order_id else []


def memory(label: str) -> str:
    printers = printer.printer_pids()
    shown = ", ".join(f"{rss_mb(pid):.0f}" for pid in printers) or "none running"
    return f"{label}: mailer {rss_mb(os.getpid()):.0f} MB, printer processes {shown} MB"


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, __file__, "--sink", str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
        target = SmtpTarget(f"smtp://127.0.0.1:{port}")
        with tempfile.TemporaryDirectory(prefix="tracker-mail-") as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tracker.db'}"
            os.environ.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=tmp)
            settings = settings_for(url, Path(tmp))
            engine = await fresh_database(url)
            try:
                await make_orders(engine, settings, args.mails, args.findings)
                await run(args, engine, target, settings)
            finally:
                await engine.dispose()
    finally:
        assert sink.stdin is not None
        sink.stdin.close()
        sink.wait(timeout=30)


async def run(args: argparse.Namespace, engine, target: SmtpTarget, settings) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.run_in_executor(printer.pool(), printer.html_to_pdf, "<p>warm</p>") for _ in range(2))
    )
    before = memory(f"before {args.mails} documents")
    log(f"first delivery: {args.mails} order mails, each order printed on the way")
    first = await mailer_until_done(engine, target, settings)
    after = memory(f"after {args.mails} documents")

    async with engine.connect() as conn:
        rows = (await conn.execute(select(mail).order_by(mail.c.id))).all()
    assert len(rows) == args.mails and all(r.status == "sent" and r.attachment for r in rows)
    kept = {}
    for k in range(0, len(rows), BATCH):
        ids = [order_of_attachment(r.attachment) for r in rows[k : k + BATCH]]
        ready = await order_documents_for(engine, ids, settings)
        kept.update({i: await f for i, f in ready.items()})
    assert not any(k.printed_now for k in kept.values()), "a kept document was printed again"
    size = sum(len(k.pdf) for k in kept.values()) / len(kept)

    seconds = {"raw": 0.0, "built": 0.0, "mailer": 0.0}
    for k in range(0, len(rows), args.round):
        chunk = rows[k : k + args.round]
        makers = [partial(build_message, r, SENDER, attachments(r, kept)) for r in chunk]
        # Each round starts with the next of the three, so none is always the first after a pause.
        order = ["raw", "built", "mailer"]
        turn = (k // args.round) % 3
        for which in order[turn:] + order[:turn]:
            seconds[which] += await side(which, engine, target, chunk, makers)
        log(f"side by side: {k + len(chunk)}/{len(rows)}")
    raw_seconds, built_seconds, mailer_seconds = seconds["raw"], seconds["built"], seconds["mailer"]

    n = len(rows)
    print(
        f"{n} order mails, {args.findings} findings per order, PDFs of {size / 1024:.0f} KB on average; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"first delivery, printing each order once: {n / first:.1f} mails/s")
    print(f"printer processes replaced after {printer.RECYCLE_AFTER} documents each")
    print(before)
    print(after)
    print(f"raw aiosmtplib, each message built then sent: {n / raw_seconds:.1f} mails/s")
    print(f"raw aiosmtplib, messages built beforehand:    {n / built_seconds:.1f} mails/s")
    print(f"tracker mailer, PDFs kept:                    {n / mailer_seconds:.1f} mails/s")
    print(f"ratio to sending messages built beforehand: {built_seconds / mailer_seconds:.3f}")
    print(f"ratio {raw_seconds / mailer_seconds:.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--findings", type=int, default=10, help="findings per order")
    parser.add_argument("--round", type=int, default=250, help="mails per side-by-side round")
    parser.add_argument(
        "--recycle-after",
        type=int,
        help="documents per printer process (default: tracker.documents.printer.RECYCLE_AFTER)",
    )
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a fresh SQLite file)")
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.recycle_after:
        printer.RECYCLE_AFTER = arguments.recycle_after
    if arguments.sink:
        serve_sink(arguments.sink)
    else:
        asyncio.run(main(arguments))
