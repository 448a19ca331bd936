"""The message catalogue of the pages: Chinese by default, English by a switch remembered in a cookie."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, pass_context
from starlette.requests import Request

LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
_DIR = Path(__file__).parent / "messages"


@cache
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))


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


def install(env: Environment) -> None:
    """Give every template `t('key')`, `lang()` and `pick(zh, en)`, all reading the request's language."""
    env.globals.update(t=_t, lang=_lang, pick=_pick)
