"""The embedded mail sink: an SMTP server that keeps every message as one .eml file."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from email import message_from_bytes
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tracker.domain.time import shown

log = logging.getLogger("tracker.sink")


class EmlWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        raw = data if isinstance(data, bytes) else data.encode()
        parsed = message_from_bytes(raw)
        message_id = parsed.get("Message-ID", "") or hashlib.sha256(raw).hexdigest()
        name = hashlib.sha256(message_id.encode()).hexdigest()[:16]
        existing = list(self.directory.glob(f"*-{name}.eml"))
        if existing:
            # Same Message-ID again: keep the first copy and say so, a second send is a bug to see.
            log.warning("duplicate delivery of %s", message_id)
            (self.directory / "duplicates.log").open("a").write(
                f"{datetime.now(UTC).isoformat()} {message_id}\n"
            )
            return "250 OK (duplicate kept once)"
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        (self.directory / f"{stamp}-{name}.eml").write_bytes(raw)
        # One line per message (aiosmtpd's own "mail.log" is quieted to warnings by tracker.logs).
        log.info(
            "kept %s to %s, %d bytes: %s",
            message_id,
            ",".join(envelope.rcpt_tos),
            len(raw),
            str(make_header(decode_header(parsed.get("Subject", "")))),
        )
        return "250 OK"


def start_sink(directory: Path, host: str, port: int) -> Controller:
    controller = Controller(EmlWriter(directory), hostname=host, port=port)
    controller.start()
    return controller


def summary(path: Path) -> dict[str, str]:
    message = message_from_bytes(path.read_bytes())
    return {
        "file": path.name,
        "to": str(message.get("To", "")),
        "subject": str(make_header(decode_header(message.get("Subject", "")))),
        "date": _local(str(message.get("Date", ""))),
    }


def bodies(path: Path) -> tuple[str, str]:
    """The text and HTML parts of a stored message."""
    message = message_from_bytes(path.read_bytes())
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain" and not text:
            text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
        elif part.get_content_type() == "text/html" and not html:
            html = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8", "replace")
    return text, html


def _local(header: str) -> str:
    """The Date header as the bureau reads it (2026-12-06 22:26, China Standard Time); as sent if unreadable."""
    try:
        return shown(parsedate_to_datetime(header))
    except (TypeError, ValueError):
        return header
