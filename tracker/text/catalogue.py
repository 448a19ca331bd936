"""One message catalogue per language (messages/zh.json, messages/en.json) for pages, mail, PDFs and Excel.

Chinese is the default; a reader's choice of English is remembered in a cookie. A page asks with `translate`,
which falls back to Chinese and then to the key; a mail asks with `say`, which fails on a missing key, so a
mail never goes out with a key in place of a sentence."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from tracker import product

LANGS = ("zh", "en")
DEFAULT = "zh"
COOKIE = "lang"
_DIR = Path(__file__).parent / "messages"


class _Asking(Protocol):
    cookies: Any


@cache
def catalogue(lang: str) -> dict[str, str]:
    texts = json.loads((_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return {key: product.named(lang, text) for key, text in texts.items()}


def lang_of(request: _Asking | None) -> str:
    """The reader's language: the cookie's, if it names one we have, else Chinese."""
    value = request.cookies.get(COOKIE, DEFAULT) if request is not None else DEFAULT
    return value if value in LANGS else DEFAULT


def translate(lang: str, key: str, **values: Any) -> str:
    """The message `key` in `lang`; a key missing there falls back to Chinese, then to the key itself."""
    text = catalogue(lang).get(key) or catalogue(DEFAULT).get(key) or key
    return text.format(**values) if values else text


def say(lang: str) -> Callable[..., str]:
    """The messages of `lang` as a function of key and values; a missing key is an error."""

    def said(key: str, **values: Any) -> str:
        text = catalogue(lang)[key]
        return text.format(**values) if values else text

    return said


def pick(lang: str, zh: str, en: str) -> str:
    """Of a pair of texts from data (checklists, facility types), the one in `lang`."""
    return en if lang == "en" and en else zh
