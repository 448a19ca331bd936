"""The one Jinja environment. Pages, mails, the documents served in the bureau's name, the monthly report and
the printed checklist all render with it: one set of filters and globals, one catalogue of words.

Templates are files beside the layer that owns them, found by name: the pages' in tracker/web/templates, the
printed documents' in tracker/documents/templates, the mails' as `mail/…` (tracker/mail/templates). A template
named `*.html` is escaped; text (a mail's subject and plain body) is not.

Mails and served documents render through `strict()`: the same environment (an overlay shares its filters,
globals and loader) with two settings of its own, because what they print leaves no room for a gap — a value
missing from the context is an error rather than an empty string (an order must not print a blank where its
deadline belongs), and a block tag leaves no line behind (a plain-text mail is laid out by its lines)."""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)

from tracker import product
from tracker.config import load_settings
from tracker.documents.printed import cn_date, printed_basis
from tracker.domain.time import local_day, shown
from tracker.text.catalogue import DEFAULT, lang_of, pick, say, translate

_TRACKER = Path(__file__).parent.parent
WEB_TEMPLATES = _TRACKER / "web" / "templates"
DOCUMENT_TEMPLATES = _TRACKER / "documents" / "templates"
MAIL_TEMPLATES = _TRACKER / "mail" / "templates"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


# A page's words are in the language of its request (the cookie); a template with no request (a PDF, a mail) is
# in Chinese.
@pass_context
def _t(ctx: Any, key: str, **values: Any) -> str:
    return translate(lang_of(ctx.get("request")), key, **values)


@pass_context
def _lang(ctx: Any) -> str:
    return lang_of(ctx.get("request"))


@pass_context
def _pick(ctx: Any, zh: str, en: str) -> str:
    return pick(lang_of(ctx.get("request")), zh, en)


@pass_context
def _product(ctx: Any) -> str:
    return product.NAME[lang_of(ctx.get("request"))]


@pass_context
def _page_day(ctx: Any, value: date | datetime | str | None) -> str:
    """A day as the reader's language writes it: 2027年1月18日 in Chinese (as on the served order), 2027-01-18 in
    English; a moment counts by its day in China Standard Time, an ISO text is read first."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = local_day(value) if value.tzinfo else value.date()
    return cn_date(value) if lang_of(ctx.get("request")) == DEFAULT else value.isoformat()


@pass_context
def _mail_day(ctx: Any, day: date | None) -> str:
    """A date as a mail's reader writes it: 2027年1月18日 for a facility, ISO for staff (who also read English)."""
    if day is None:
        return "—"
    return day.isoformat() if ctx.get("for_staff", True) else cn_date(day)


def _county() -> str:
    """全县 or 全市 (TRACKER_COUNTY_WORD): how the whole area is named."""
    return load_settings().county_word


@cache
def environment() -> Environment:
    """The environment, made once per process: it keeps the compiled templates (compiling the dashboard's took
    longer than its queries); a template whose file changed is compiled again."""
    env = Environment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(WEB_TEMPLATES)),
                FileSystemLoader(str(DOCUMENT_TEMPLATES)),
                PrefixLoader({"mail": FileSystemLoader(str(MAIL_TEMPLATES))}),
            ]
        ),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    )
    env.globals.update(
        # pages: t('key'), lang(), pick(zh, en), day(d), product(), all in the request's language
        t=_t,
        lang=_lang,
        pick=_pick,
        day=_page_day,
        product=_product,
        # mails: zh('key'), en('key'), county()
        zh=say("zh"),
        en=say("en"),
        county=_county,
    )
    env.filters.update(
        shown=shown,  # a moment as 2026-12-06 22:26, China Standard Time, in either language
        cn_date=cn_date,  # 2027年1月18日, as a served document writes a day
        day=_mail_day,
        printed=printed_basis,
        pct=percent,
        num=number,
    )
    return env


@cache
def strict() -> Environment:
    """The environment as mails and served documents render (see the module's note)."""
    # A cache of its own: the base's compiled templates were compiled with the base's settings.
    return environment().overlay(
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, cache_size=400
    )
