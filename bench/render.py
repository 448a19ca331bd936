"""The order document (整改通知书) printed: documents per second and CPU per document, before and after.

    .venv/bin/python bench/render.py                      # 400 orders of 10 findings each, SQLite: 3 to 5 minutes
    .venv/bin/python bench/render.py --documents 100      # quicker
    .venv/bin/python bench/render.py --database-url postgresql+asyncpg://…   # an empty PostgreSQL database

Three passes over the same orders, each through the printer processes (`tracker.documents.printer.PRINTERS`):

- before: as WeasyPrint printed the order before Typst did: the same printed matter (`printed`) into the HTML
  template of that time (bench/order_weasyprint.html), printed by `tracker.documents.printer.print_html` (fonts
  and stylesheet loaded once per process), 50 at a time.
- after, first print: `tracker.documents.kept.order_documents_for`, a batch of 50 orders at a time as the mailer
  asks: the orders' printed matter read together, fingerprinted, typeset by Typst in the printer processes
  (templates/order.typ, its fonts loaded once per process) and kept.
- after, kept: the same call again, as every retry and download makes it: served from the table, nothing printed.

CPU is this process's plus every printer process's (live ones read from /proc, finished ones from
RUSAGE_CHILDREN), divided by the documents. The last line is the CPU per document before over after, first print.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import jinja2
from orders import children_cpu, cpu_seconds, fresh_database, log, make_orders, settings_for

from tracker.documents import printer
from tracker.documents.kept import order_documents_for
from tracker.documents.order import load_orders, printed
from tracker.store.db import read_only

BEFORE = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True, undefined=jinja2.StrictUndefined
).get_template("order_weasyprint.html")


def warm() -> int:
    import typst  # noqa: F401 - the imports, a second of CPU, are not counted against any document
    import weasyprint  # noqa: F401

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


async def before(engine, settings, ids: list[int]) -> tuple[float, float]:
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(printer.pool(), warm) for _ in range(printer.PRINTERS)))
    cpu = Cpu()
    cpu.start(printer.printer_pids())
    for k in range(0, len(ids), 50):
        async with read_only(engine) as conn:
            docs = await load_orders(conn, ids[k : k + 50])
        pages = [BEFORE.render(**printed(doc, settings)) for doc in docs.values()]
        await asyncio.gather(*(printer.print_html(html) for html in pages))
    return cpu.stop(printer.printer_pids())


async def after(engine, settings, ids: list[int]) -> tuple[tuple[float, float], tuple[float, float], int]:
    cpu = Cpu()
    cpu.start(printer.printer_pids())
    prints = 0
    for k in range(0, len(ids), 50):
        ready = await order_documents_for(engine, ids[k : k + 50], settings)
        prints += sum(kept.printed_now for kept in await asyncio.gather(*ready.values()))
    first = cpu.stop(printer.printer_pids())
    cpu.start(printer.printer_pids())
    for k in range(0, len(ids), 50):
        ready = await order_documents_for(engine, ids[k : k + 50], settings)
        prints += sum(kept.printed_now for kept in await asyncio.gather(*ready.values()))
    kept = cpu.stop(printer.printer_pids())
    return first, kept, prints


async def main(args: argparse.Namespace) -> None:
    # No printer process is replaced during the bench: the CPU of one that exited mid-pass cannot be told apart.
    # (bench/mail.py measures the memory that replacing them keeps flat.)
    printer.RECYCLE_AFTER = args.documents * 3
    with tempfile.TemporaryDirectory(prefix="tracker-render-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'tracker.db'}"
        settings = settings_for(url, Path(tmp))
        os.environ.update(TRACKER_DATABASE_URL=url, TRACKER_DATA_DIR=tmp)
        engine = await fresh_database(url)
        try:
            ids = await make_orders(engine, settings, args.documents, args.findings)
            log(f"before: {len(ids)} documents")
            old = await before(engine, settings, ids)
            log(f"after: {len(ids)} documents, printed and kept, then served again")
            first, kept, printed = await after(engine, settings, ids)
        finally:
            await engine.dispose()
    print(
        f"{args.documents} orders of {args.findings} findings, {printer.PRINTERS} printer processes, "
        f"none replaced; load average {os.getloadavg()[0]:.1f}"
    )
    line("before (WeasyPrint)", len(ids), *old)
    line("after, first (Typst)", len(ids), *first)
    line("after, kept", len(ids), *kept)
    print(f"printed in the after passes: {printed} (each order once)")
    print(f"cpu per document, before / after first print: {old[1] / first[1]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=400)
    parser.add_argument("--findings", type=int, default=10, help="findings per order")
    parser.add_argument("--database-url", help="an empty PostgreSQL database (default: a fresh SQLite file)")
    asyncio.run(main(parser.parse_args()))
