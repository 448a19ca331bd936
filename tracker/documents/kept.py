"""The order's PDF printed once and kept (table order_documents), served again by every send, retry and download.

A kept document carries the fingerprint of everything it prints (tracker.documents.order.fingerprint: the findings'
grades, measures and deadlines, the facility, the crew and their warrant numbers, the referrals, the number and
issuer, the template). Whoever needs it reads the order's printed matter (a few queries, shared by a whole batch)
and compares: while the fingerprint matches, the kept PDF is served; once it differs (an extension moved a
deadline, a regrade, a facility renamed, a new template) the document is printed again and kept in its place. So
what is served is always what the order says now, and printed only when that changed.

Printing happens outside any transaction, in a printer process (tracker.documents.printer); two callers in one process that
need the same document at once share one printing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tracker.config import Settings, load_settings
from tracker.documents.order import TEMPLATE, OrderMissing, fingerprint, load_orders, printed, typeset_inputs
from tracker.documents.printer import print_typst
from tracker.store.db import is_sqlite, read_only
from tracker.store.tables import order_documents
from tracker.store.writer import write


@dataclass(frozen=True)
class Kept:
    filename: str
    pdf: bytes
    printed_now: bool  # False when served as kept


async def order_document(
    engine: AsyncEngine, order_id: int, settings: Settings | None = None
) -> tuple[str, bytes]:
    """The order's PDF and its file name (by the order's number); OrderMissing for no such order."""
    ready = (await order_documents_for(engine, [order_id], settings)).get(order_id)
    if ready is None:
        raise OrderMissing(f"no order with id {order_id} (or one without findings)")
    kept = await ready
    return kept.filename, kept.pdf


async def order_documents_for(
    engine: AsyncEngine, order_ids: list[int], settings: Settings | None = None
) -> dict[int, asyncio.Future[Kept]]:
    """The current PDF of each order, as a future: done at once where the kept one still prints what the order says,
    else the printing (kept when done). An order missing is left out; a printing that fails raises from its future."""
    settings = settings or load_settings()
    ids = sorted(set(order_ids))
    async with read_only(engine) as conn:
        docs = await load_orders(conn, ids)
        contexts = {order_id: printed(doc, settings) for order_id, doc in docs.items()}
        marks = {order_id: fingerprint(context) for order_id, context in contexts.items()}
        # The PDFs only of those whose fingerprint still matches: a stale one is not read for nothing.
        kept = (
            await conn.execute(
                select(
                    order_documents.c.order_id, order_documents.c.printed, order_documents.c.filename
                ).where(order_documents.c.order_id.in_(list(marks)))
            )
        ).all()
        current = [row.order_id for row in kept if marks[row.order_id] == row.printed]
        pdfs = (
            dict(
                (
                    await conn.execute(
                        select(order_documents.c.order_id, order_documents.c.pdf).where(
                            order_documents.c.order_id.in_(current)
                        )
                    )
                ).all()
            )
            if current
            else {}
        )
    loop = asyncio.get_running_loop()
    ready: dict[int, asyncio.Future[Kept]] = {}
    for order_id, mark in marks.items():
        if order_id in pdfs:
            ready[order_id] = loop.create_future()
            ready[order_id].set_result(
                Kept(contexts[order_id]["filename"], pdfs[order_id], printed_now=False)
            )
        else:
            ready[order_id] = _print(engine, order_id, mark, contexts[order_id])
    return ready


# Printings under way in this process, by (database, order, fingerprint): a second caller waits for the first's.
_printing: dict[tuple[int, int, str], asyncio.Future[Kept]] = {}


def _print(engine: AsyncEngine, order_id: int, mark: str, context: dict) -> asyncio.Future[Kept]:
    key = (id(engine), order_id, mark)
    running = _printing.get(key)
    if running is not None and running.get_loop() is asyncio.get_running_loop() and not running.done():
        return running
    task = asyncio.ensure_future(_print_and_keep(engine, order_id, mark, context))
    _printing[key] = task
    task.add_done_callback(lambda _: _printing.pop(key, None) if _printing.get(key) is task else None)
    # A printing nobody waits for any more (its mail's batch ended first) still ends quietly.
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    return task


async def _print_and_keep(engine: AsyncEngine, order_id: int, mark: str, context: dict) -> Kept:
    name = context["filename"]
    pdf = await print_typst(TEMPLATE, typeset_inputs(context))
    values = {
        "order_id": order_id,
        "printed": mark,
        "filename": name,
        "pdf": pdf,
        "rendered_at": datetime.now(UTC),  # for the record only: nothing is decided by it
    }

    async def keep(conn: AsyncConnection) -> None:
        dialect = sqlite if is_sqlite(conn) else postgresql
        upsert = dialect.insert(order_documents).values(**values)
        await conn.execute(
            upsert.on_conflict_do_update(
                index_elements=[order_documents.c.order_id],
                set_={k: upsert.excluded[k] for k in ("printed", "filename", "pdf", "rendered_at")},
            )
        )

    await write(engine, keep)
    return Kept(name, pdf, printed_now=True)
