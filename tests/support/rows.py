"""Rows written straight into the tables, for tests that craft what the loop would have left."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def order_mail(key: str, status: str, created: datetime, attachment: str | None = None) -> dict[str, Any]:
    """An order mail to the head of facility 1, tried once, created (and sent, if so) at `created`."""
    return {
        "dedupe_key": key,
        "kind": "order",
        "about": "order:1",
        "to_addr": "head@example.cn",
        "subject": f"整改通知书 {key}",
        "text_body": "正文",
        "html_body": "<p>正文</p>",
        "status": status,
        "attempts": 1,
        "next_attempt_at": created,
        "created_at": created,
        "sent_at": created if status == "sent" else None,
        "attachment": attachment,
    }
