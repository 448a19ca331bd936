"""The order document (整改通知书) printed: documents per second and CPU per document, before and after.

    .venv/bin/python bench/render.py                      # 400 orders of 10 findings each, SQLite: 3 to 5 minutes
    .venv/bin/python bench/render.py --documents 100      # quicker
    .venv/bin/python bench/render.py --database-url postgresql+asyncpg://…   # an empty PostgreSQL database

Three passes over the same orders, each through two printer processes (`tracker.documents.printer.PRINTERS`):

- before: as the mailer printed before the documents were kept: each order read (`load_order`) and its HTML made
  in this process, then `HTML(string=html).write_pdf()` in a plain spawned process pool, fonts and the inline
  stylesheet loaded again for every document; every send, retry and download paid this.
- after, first print: `tracker.documents.kept.order_documents_for`, a batch of 50 orders at a time as the mailer
  asks: the orders' printed matter read together, fingerprinted, printed by `tracker.documents.printer` (fonts loaded once per
  process, each stylesheet parsed once, processes recycled after `RECYCLE_AFTER` documents) and kept.
- after, kept: the same call again, as every retry and download makes it: served from the table, nothing printed.

CPU is this process's plus every printer process's (live ones read from /proc, finished ones from
RUSAGE_CHILDREN), divided by the documents. The last line is the CPU per document before over after, first print.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from orders import children_cpu, cpu_seconds, fresh_database, log, make_orders, settings_for

from tracker.documents import printer
from tracker.documents.kept import order_documents_for
from tracker.documents.order import load_order, render_html
from tracker.store.db import read_only


def plain_html_to_pdf(html: str) -> bytes:
    """How a document was printed before: a new WeasyPrint document, fonts and stylesheet loaded each time."""
    from weasyprint import HTML

    return HTML(string=html).write_pdf()


def warm() -> int:
    import weasyprint  # noqa: F401 - the import, a second of CPU, is not counted against any document

    return os.getpid()


class Cpu:
    """CPU of this process and its printer processes between start() and stop()."""

    def start(self, pids: list[int]) -> None:
        self.t0 = time.perf_counter()
        self.mine = time.process_time()
        self.children = children_cpu()
        self.live = {pid: cpu_seconds(pid) for pid in pids}

    def stop(self, pids: list[int]) -> tuple[float, float]:
        """(wall seconds, CPU seconds), reading the printers still alive before they are shut down."""
        wall = time.perf_counter() - self.t0
        mine = time.process_time() - self.mine
        live = sum(
            cpu_seconds(pid) - self.live.get(pid, 0.0) for pid in pids if Path(f"/proc/{pid}").exists()
        )
        return wall, mine + live + (children_cpu() - self.children)


def line(label: str, n: int, wall: float, cpu: float) -> None:
    print(
        f"{label:<22} {n:>5} documents  {n / wall:7.2f} documents/s  {1000 * cpu / n:7.1f} ms CPU per document"
    )


async def before(engine, ids: list[int]) -> tuple[float, float]:
    pool = ProcessPoolExecutor(max_workers=printer.PRINTERS, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, warm) for _ in range(printer.PRINTERS)))
    pids = sorted(pool._processes)  # the pool's processes, for their CPU
    cpu = Cpu()
    cpu.start(pids)
    window = asyncio.Semaphore(printer.PRINTERS + 1)  # as the mailer printed ahead before

    async def one(order_id: int) -> bytes:
        async with window:
            async with read_only(engine) as conn:
                doc = await load_order(conn, order_id)
            return await loop.run_in_executor(pool, plain_html_to_pdf, render_html(doc))

    await asyncio.gather(*(one(i) for i in ids))
    result = cpu.stop(sorted(pool._processes))
    pool.shutdown()
    return result


async def after(engine, settings, ids: list[int]) -> tuple[tuple[float, float], tuple[float, float], int]:
    loop = asyncio.get_running_loop()
    pool = printer.pool()
    await asyncio.gather(*(loop.run_in_executor(pool, warm) for _ in range(printer.PRINTERS)))
    cpu = Cpu()
    cpu.start(printer.printer_pids())
    printed = 0
    for k in range(0, len(ids), 50):
        ready = await order_documents_for(engine, ids[k : k + 50], settings)
        printed += sum(kept.printed_now for kept in await asyncio.gather(*ready.values()))
    first = cpu.stop(printer.printer_pids())
    cpu.start(printer.printer_pids())
    for k in range(0, len(ids), 50):
        ready = await order_documents_for(engine, ids[k : k + 50], settings)
        printed += sum(kept.printed_now for kept in await asyncio.gather(*ready.values()))
    kept = cpu.stop(printer.printer_pids())
    return first, kept, printed


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tracker-render-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tracker.db'}"
        settings = settings_for(url, Path(tmp))
        os.environ.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=tmp)
        engine = await fresh_database(url)
        try:
            ids = await make_orders(engine, settings, args.documents, args.findings)
            log(f"before: {len(ids)} documents")
            old = await before(engine, ids)
            log(f"after: {len(ids)} documents, printed and kept, then served again")
            first, kept, printed = await after(engine, settings, ids)
        finally:
            await engine.dispose()
    print(
        f"{args.documents} orders of {args.findings} findings, {printer.PRINTERS} printer processes, "
        f"recycled after {printer.RECYCLE_AFTER}; load average {os.getloadavg()[0]:.1f}"
    )
    line("before", len(ids), *old)
    line("after, first print", len(ids), *first)
    line("after, kept", len(ids), *kept)
    print(f"printed in the after passes: {printed} (each order once)")
    print(f"cpu per document, before / after first print: {old[1] / first[1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--findings", type=int, default=10, help="findings per order")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a fresh SQLite file)")
    asyncio.run(main(parser.parse_args()))
