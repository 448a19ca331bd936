"""The whole product for the browser tests: `tracker up` as a subprocess (the real nats-server, SQLite,
the SMTP sink writing .eml files, and every role), driven by Debian's Chromium at phone size."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).parent / "screenshots"
PASSWORD = "e2e-pass-2026"
SECRET = "e2e-secret-key-0123456789-abcdefghijklmnop"
VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 15_000
# How long a step of the event pipeline may take. Usually well under a second; but a worker's pull
# consumer now and then misses a message until JetStream redelivers it after ack_wait (60 s), so allow that.
PIPELINE_SECONDS = 90.0
FACILITIES = """code,name,type,town,head_name,head_email
E2E01,汇龙镇测试敬老院,nursing_home,汇龙镇,张建国,head1@facility.example.cn
E2E02,南阳镇测试敬老院,nursing_home,南阳镇,李丽华,head2@facility.example.cn
E2E03,北新镇测试睦邻点,neighbourhood_point,北新镇,王志强,head3@facility.example.cn
"""
USERS = [
    {
        "role": "inspector",
        "username": "insp",
        "email": "insp@mzj.example.cn",
        "name": "检查员甲",
        "warrant_no": "E3206001",
    },
    {
        "role": "inspector",
        "username": "insp2",
        "email": "insp2@mzj.example.cn",
        "name": "检查员乙",
        "warrant_no": "E3206002",
    },
    {"role": "facility_head", "username": "head1", "email": "head1@facility.example.cn", "facility": "E2E01"},
    {"role": "facility_head", "username": "head2", "email": "head2@facility.example.cn", "facility": "E2E02"},
    {"role": "bureau_lead", "username": "lead", "email": "lead@mzj.example.cn"},
]

# A missing browser is a failure to see, not a reason to skip: .ci/run installs it.
if not Path(CHROMIUM).exists():  # pragma: no cover - a machine without the browser
    raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def png(width: int = 48, height: int = 32, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A small real PNG, decodable by the browser's canvas."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Server:
    base_url: str
    data_dir: Path
    process: subprocess.Popen[bytes]

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    def mails(self) -> list[EmailMessage]:
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")) if self.mail_dir.exists() else []:
            found.append(email.message_from_bytes(path.read_bytes(), policy=email.policy.default))
        return found

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 45.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def order_mail(self, to: str, order_id: int | None = None) -> EmailMessage:
        def find() -> EmailMessage | None:
            for message in self.mails():
                if (
                    to in str(message["To"])
                    and "整改通知书" in str(message["Subject"])
                    and (order_id is None or f"/orders/{order_id}?" in text_of(message))
                ):
                    return message
            return None

        return self.wait_for(find, timeout=PIPELINE_SECONDS, what=f"the order mail to {to}")

    def api_token(self, username: str) -> dict[str, str]:
        response = httpx.post(
            f"{self.base_url}/api/token", json={"username": username, "password": PASSWORD}, timeout=10
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def api(self, method: str, path: str, username: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(self.api_token(username) if username else {}), **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.base_url}{path}", headers=headers, timeout=15, **kwargs)


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    return part.get_content() if part is not None else ""


def order_link(message: EmailMessage) -> str:
    found = re.search(r"https?://[^\s\"'<>]+/orders/\d+\?token=[A-Za-z0-9._\-]+", text_of(message))
    assert found, text_of(message)
    return found.group(0)


async def _prepare(data: Path) -> None:
    from tracker.checklists import load_catalog
    from tracker.config import load_settings
    from tracker.service.admin import add_user, import_facilities
    from tracker.store.db import make_engine
    from tracker.store.migrate import upgrade_async

    settings = load_settings(data)
    await upgrade_async(settings.db_url)
    engine = make_engine(settings.db_url)
    try:
        csv = data / "facilities.csv"
        csv.write_text(FACILITIES, encoding="utf-8")
        report = await import_facilities(engine, load_catalog(), csv)
        assert not report.problems, report.problems
        for user in USERS:
            await add_user(engine, password=PASSWORD, **user)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("tracker-e2e")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({"TRACKER_BASE_URL": base_url, "TRACKER_SECRET_KEY": SECRET, "TRACKER_DATA_DIR": str(data)})
    saved = {k: os.environ.get(k) for k in ("TRACKER_DATA_DIR", "TRACKER_DATABASE_URL")}
    os.environ.pop("TRACKER_DATABASE_URL", None)
    try:
        asyncio.run(_prepare(data))
    finally:
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
    log = (data / "up.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tracker", "up", "--data", str(data), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Server(base_url, data, process)
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"tracker up exited: {(data / 'up.log').read_text(errors='replace')}")
            try:
                return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        server.wait_for(healthy, timeout=60, what="tracker up to serve")
        yield server
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Each call is a fresh phone: its own cookies and storage."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(
            viewport=VIEWPORT, device_scale_factor=2, is_mobile=True, has_touch=True, locale="zh-CN"
        )
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def login(page: Page, server: Server, username: str, next_path: str = "/") -> None:
    page.goto(f"{server.base_url}/login?next={next_path}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def name_the_crew(page: Page, present: str = "当班护理员") -> None:
    """On the walk page: the co-inspector from the register, and the facility's person present."""
    page.locator("#crew label.choice", has_text="检查员乙").click()
    page.fill("#person-present", present)


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
