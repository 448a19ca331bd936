"""The message catalogue of the pages: Chinese by default, English by a switch remembered in a cookie."""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from starlette.requests import Request

from tracker import product
from tracker.documents.printed import cn_date
from tracker.domain.time import local_day, shown

LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
_DIR = Path(__file__).parent / "messages"


@cache
def catalogue(lang: str) -> dict[str, str]:
    texts = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return {key: product.named(lang, text) for key, text in texts.items()}


def lang_of(request: Request | None) -> str:
    value = request.cookies.get(COOKIE, DEFAULT) if request is not None else DEFAULT
    return value if value in LANGS else DEFAULT


def translate(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang`; a key missing there falls back to Chinese, then to the key itself."""
    text = catalogue(lang).get(key) or catalogue(DEFAULT).get(key) or key
    return text.format(**values) if values else text


def pick(lang: str, zh: str, en: str) -> str:
    """Of a pair of texts from data (checklists, facility types), the one in `lang`."""
    return en if lang == "en" and en else zh


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
def _day(ctx: Any, value: date | datetime | str | None) -> str:
    """A day as the reader's language writes it: 2027年1月18日 in Chinese (as on the served order), 2027-01-18 in
    English; a moment counts by its day in China Standard Time, an ISO text is read first."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = local_day(value) if value.tzinfo else value.date()
    return cn_date(value) if lang_of(ctx.get("request")) == DEFAULT else value.isoformat()


def install(env: Environment) -> None:
    """Give every template `t('key')`, `lang()`, `pick(zh, en)`, `day(d)` and `product()`, all reading the request's language,
    and the `shown` filter: a moment as `2026-12-06 22:26`, China Standard Time, in either language."""
    env.globals.update(t=_t, lang=_lang, pick=_pick, day=_day, product=_product)
    env.filters["shown"] = shown
