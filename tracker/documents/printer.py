"""The printer processes: WeasyPrint turns a document's HTML into PDF in processes of their own, as its layout is
CPU-bound Python that would otherwise hold the GIL of the process running the event loop (mailer, web) for the
whole rendering, a few hundred milliseconds.

Each printer process loads the fonts once and parses each document kind's stylesheet once, and the processes are
replaced by fresh ones after about `RECYCLE_AFTER` documents each, so their memory stays flat however many they
print.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

PRINTERS = max(1, min(2, os.cpu_count() or 1))
# WeasyPrint's caches and Python's heap grow a little with each document; a fresh process costs about a second.
RECYCLE_AFTER = 200

_STYLE = re.compile(r"<style>(.*?)</style>", re.S)
_fonts: Any = None  # this process's FontConfiguration
_styles: dict[str, Any] = {}  # this process's parsed stylesheets, by their text


def html_to_pdf(html: str) -> bytes:
    """A document's HTML (its stylesheet in its first <style>) to PDF, with this process's fonts and stylesheets."""
    from weasyprint import CSS, HTML  # heavy; imported when the first document is printed
    from weasyprint.text.fonts import FontConfiguration

    global _fonts
    if _fonts is None:
        _fonts = FontConfiguration()
    stylesheets = []
    style = _STYLE.search(html)
    if style is not None:
        text = style.group(1)
        if text not in _styles:
            if len(_styles) >= 16:
                _styles.clear()
            _styles[text] = CSS(string=text, font_config=_fonts)
        stylesheets.append(_styles[text])
        html = html[: style.start()] + html[style.end() :]
    return HTML(string=html).write_pdf(font_config=_fonts, stylesheets=stylesheets)


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()
_sent_to_pool = 0


def pool() -> ProcessPoolExecutor:
    """The printer processes, for one more document. After `RECYCLE_AFTER` documents a process on average the
    whole pool is replaced: the old one finishes what it was given and its processes exit. (Not with
    `max_tasks_per_child`: on Python 3.11 to 3.13 a pool using it can stop replacing its processes and hang,
    CPython gh-115634.)"""
    global _pool, _sent_to_pool
    with _pool_lock:
        if _pool is not None and _sent_to_pool >= RECYCLE_AFTER * PRINTERS:
            _pool.shutdown(wait=False)
            _pool = None
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=PRINTERS, mp_context=multiprocessing.get_context("spawn"))
            _sent_to_pool = 0
        _sent_to_pool += 1
        return _pool


def printer_pids() -> list[int]:
    """The printer processes running now (for the benches' memory figures)."""
    with _pool_lock:
        processes = getattr(_pool, "_processes", None) or {}
        return sorted(processes)


async def print_html(html: str) -> bytes:
    """A document's HTML to PDF in a printer process, off the event loop."""
    try:
        return await asyncio.get_running_loop().run_in_executor(pool(), html_to_pdf, html)
    except BrokenProcessPool:
        # A printer process died (killed, out of memory): start afresh next time, render this one here.
        global _pool
        with _pool_lock:
            _pool = None
        return await asyncio.to_thread(html_to_pdf, html)
