"""`tracker up --demo` keeps its data folder and its broker to its user, and its web log holds no order token."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import nats
import pytest

from tests.integration.test_up import Up, processes_using, wait_for
from tests.support import free_port

ORDER_LINK = re.compile(r"https?://[^\s\"'<>]+/orders/\d+\?token=[A-Za-z0-9._\-]+")


@pytest.fixture
def data(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "tracker-data"
    yield folder
    for pid in processes_using(folder):  # a last guard: nothing of this test outlives it
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def order_links(mail_dir: Path) -> list[str]:
    found = []
    for path in sorted(mail_dir.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))
        found += ORDER_LINK.findall(body.get_content() if body is not None else "")
    return found


async def connect_without_login(port: int) -> str:
    try:
        client = await nats.connect(f"nats://127.0.0.1:{port}", allow_reconnect=False, connect_timeout=5)
    except Exception as error:  # noqa: BLE001 - what the server answered is the point
        return str(error)
    await client.close()
    return "connected"


def modes(folder: Path) -> dict[str, int]:
    """Every file and folder under `folder` (and itself), with its permission bits."""
    return {
        str(path.relative_to(folder.parent)): stat.S_IMODE(path.lstat().st_mode)
        for path in [folder, *folder.rglob("*")]
        if not path.is_symlink()
    }


def test_it_keeps_the_data_folder_to_its_user_and_no_order_token_in_the_web_log(
    tmp_path: Path, data: Path
) -> None:
    # The access log is off by default; turned on, it must still hold no order token.
    up = Up(data, free_port(), tmp_path / "up.txt", env={"TRACKER_ACCESS_LOG": "true"})
    try:
        up.wait_healthy()
        # The embedded broker is on loopback, where any user of the host reaches it: it wants the run's password.
        port = re.search(r"NATS\s+nats://127\.0\.0\.1:(\d+)", up.wait_output("Press Ctrl-C")).group(1)
        assert "Authorization Violation" in asyncio.run(connect_without_login(int(port)))
        links = wait_for("an order mail in the sink", lambda: order_links(data / "mail"), seconds=90)
        parts = urlsplit(links[0])
        path = f"{parts.path}?{parts.query}"
        token = parts.query.removeprefix("token=")
        with httpx.Client(base_url=up.base, timeout=10) as browser:
            page = browser.get(path, headers={"Accept": "text/html"})
            assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
            # The language switch carries the page's address, token and all, in its own query string.
            switched = browser.get(f"/lang/en?next={quote(path, safe='')}")
            assert switched.status_code in (303, 307), switched.text
            assert browser.get("/docs").status_code == 401
        assert up.interrupt() == 0
        assert processes_using(data) == []
    finally:
        up.kill_all()

    web_log = (data / "logs" / "web.log").read_text(errors="replace")
    assert f"GET {parts.path}?token=[redacted] HTTP/1.1" in web_log
    assert token not in web_log and token[-20:] not in web_log

    found = modes(data)
    for name in ("tracker-data", "tracker-data/mail", "tracker-data/jetstream", "tracker-data/logs"):
        assert found[name] == 0o700, (name, oct(found[name]))
    for name in ("tracker-data/secret_key", "tracker-data/tracker.db", "tracker-data/logs/web.log"):
        assert found[name] == 0o600, (name, oct(found[name]))
    assert any(name.startswith("tracker-data/mail/") for name in found)
    assert any(name.startswith("tracker-data/jetstream/") for name in found)
    opened = {name: oct(mode) for name, mode in found.items() if mode & 0o077}
    assert opened == {}, opened
