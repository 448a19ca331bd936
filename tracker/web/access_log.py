"""The web process's log keeps no order token: an order link is a key to the order, and logs travel further."""

from __future__ import annotations

import logging
import re

# `token=` in a query string, also percent-encoded inside another parameter (the language switch's `next`).
TOKEN = re.compile(r"(token(?:=|%3D|%253D))[^&\s\"]+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return TOKEN.sub(rf"\g<1>{REDACTED}", text)


class RedactTokens(logging.Filter):
    """uvicorn's access line is a format with the request's path and query string among its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def keep_tokens_out_of_the_log() -> None:
    """Call once uvicorn has set up its loggers (uvicorn.Config does)."""
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
