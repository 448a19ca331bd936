"""The printer processes: documents are turned into PDF in processes of their own, so that the work never holds
the GIL of the process running the event loop (mailer, web). Two typesetters print: Typst the rectification order,
the one document printed for every inspection (a template in tracker/documents/templates and its data as JSON),
and WeasyPrint the others, from HTML (its layout is CPU-bound Python: a few hundred milliseconds a document).

Each printer process loads the fonts once, parses each stylesheet and Typst template once, and the processes are
replaced by fresh ones after about `RECYCLE_AFTER` documents each, so their memory stays flat however many they
print.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from tracker.text.templating import DOCUMENT_TEMPLATES

PRINTERS = max(1, min(2, os.cpu_count() or 1))
# WeasyPrint's caches and Python's heap grow a little with each document; a fresh process costs about a second.
RECYCLE_AFTER = 200

# The Chinese typefaces the documents are set in, the first one installed (fonts-wqy-microhei on Debian).
CJK_FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Source Han Sans SC")

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


_typesetters: dict[str, Any] = {}  # this process's Typst compilers, by template
_typesetting = threading.Lock()  # a compiler typesets one document at a time (the fallback prints in threads)
_font: str | None = None


def typst_to_pdf(template: str, inputs: dict[str, str]) -> bytes:
    """A Typst template of tracker/documents/templates to PDF, its data in `sys.inputs` (strings: JSON), set in
    the first of `CJK_FONTS` installed (`sys.inputs.font`)."""
    import typst  # imported when the first document is printed

    global _font
    with _typesetting:
        compiler = _typesetters.get(template)
        if compiler is None:
            fonts = typst.Fonts()
            if _font is None:
                _font = cjk_font(fonts.families())
            compiler = _typesetters[template] = typst.Compiler(
                DOCUMENT_TEMPLATES / template, root=DOCUMENT_TEMPLATES, font_paths=fonts
            )
        # Untagged, as WeasyPrint prints: the structure tags add about half to a mailed order (93 KB against 64).
        return compiler.compile(sys_inputs={**inputs, "font": _font}, pdf_tags=False)


def cjk_font(families: list[str]) -> str:
    """The first of `CJK_FONTS` among the installed families; with none, an error rather than a document of empty
    boxes (Typst prints missing glyphs as boxes and says so only in warnings)."""
    installed = {family.casefold() for family in families}
    for family in CJK_FONTS:
        if family.casefold() in installed:
            return family
    raise RuntimeError(
        f"no Chinese font to print with: install one of {', '.join(CJK_FONTS)} (fonts-wqy-microhei)"
    )


# How much lower than their parent's the printer processes' priority is (the mailer sets it: tracker.entry.roles).
niceness = 0
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
            _pool = ProcessPoolExecutor(
                max_workers=PRINTERS,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=os.nice,
                initargs=(niceness,),
            )
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
    return await _in_printer(html_to_pdf, html)


async def print_typst(template: str, inputs: dict[str, str]) -> bytes:
    """A Typst template and its data to PDF in a printer process, off the event loop."""
    return await _in_printer(typst_to_pdf, template, inputs)


async def _in_printer(typeset: Callable[..., bytes], *args: Any) -> bytes:
    try:
        return await asyncio.get_running_loop().run_in_executor(pool(), typeset, *args)
    except BrokenProcessPool:
        # A printer process died (killed, out of memory): start afresh next time, print this one here.
        global _pool
        with _pool_lock:
            _pool = None
        return await asyncio.to_thread(typeset, *args)
