"""The printer processes as the mailer and the web use them: a printer killed mid-work (the out-of-memory killer,
an operator) loses no document; those under way are printed again in the process that asked."""

from __future__ import annotations

import asyncio
import os
import signal

from tests.support.documents import pdf_words
from tracker.documents import printer
from tracker.documents.order import AUTHORITY, TEMPLATE, typeset_inputs


def _order(n: int) -> dict:
    row = {
        "description": f"二楼走廊堆放杂物，防火门被锁闭（第{n}处）",
        "grade": "一般事故隐患",
        "major": False,
        "measure": "限期整改，消除隐患",
        "precaution": "整改完毕前加强巡查，落实防范措施",
        "due": "2027年1月18日",
        "basis": "《中华人民共和国消防法》",
    }
    return {
        "number": f"民安整〔2026〕{n}号",
        "issuer": "县民政局",
        "facility": f"汇龙镇敬老院{n}",
        "self_reported": False,
        "from_register": False,
        "onsite": "2026年12月1日",
        "inspectors": [{"name": "张三", "warrant_no": "32060012345"}],
        "authority": AUTHORITY,
        "standards": [],
        "rows": [row] * 12,
        "has_major": False,
        "issued": "2026年12月2日",
        "copies": ["汇龙镇人民政府"],
        "filename": f"整改通知书〔2026〕{n}号.pdf",
    }


async def test_a_printer_killed_while_orders_are_printing_loses_none_of_them() -> None:
    # Fresh printers, warmed, so that both are at work when one is killed.
    await asyncio.gather(*(printer.print_typst(TEMPLATE, typeset_inputs(_order(0))) for _ in range(2)))
    victim = printer.printer_pids()[0]
    printing = [
        asyncio.ensure_future(printer.print_typst(TEMPLATE, typeset_inputs(_order(n)))) for n in range(1, 21)
    ]
    await asyncio.sleep(0.05)
    os.kill(victim, signal.SIGKILL)
    pdfs = await asyncio.gather(*printing)
    for n, pdf in enumerate(pdfs, 1):
        assert pdf.startswith(b"%PDF")
        assert f"民安整〔2026〕{n}号" in pdf_words(pdf)
    # The next document goes to fresh printers again.
    assert b"%PDF" in await printer.print_typst(TEMPLATE, typeset_inputs(_order(21)))
    assert victim not in printer.printer_pids()


async def test_the_mailers_printers_run_behind_the_others_and_the_mailer_does_not(monkeypatch) -> None:
    # As the mailer sets it (tracker.entry.roles): its printers yield the cores, it keeps its turns at the lock.
    monkeypatch.setattr(printer, "niceness", 10)
    monkeypatch.setattr(printer, "_pool", None)  # printers started afresh, with the mailer's setting
    own = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        assert b"%PDF" in await printer.print_typst(TEMPLATE, typeset_inputs(_order(1)))
        [printing, *_] = printer.printer_pids()
        assert os.getpriority(os.PRIO_PROCESS, printing) == min(own + 10, 19)
        assert os.getpriority(os.PRIO_PROCESS, 0) == own
    finally:
        pool = printer._pool
        if pool is not None:
            pool.shutdown(wait=True)
