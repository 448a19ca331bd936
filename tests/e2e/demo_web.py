"""The web app alone, on a SQLite database filled with the demo data, in a thread of the test (uvicorn): for the
browser tests that only read pages and need no worker, relay or mailer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from tests.e2e.conftest import free_port
from tracker.checklists import load_catalog
from tracker.config import Settings
from tracker.entry.demo import seed
from tracker.service.context import Context
from tracker.store.db import make_engine
from tracker.store.migrate import upgrade
from tracker.web.app import create_app

CHROMIUM = "/usr/bin/chromium"


@contextmanager
def demo_web(folder: Path, secret: str) -> Iterator[str]:
    """The app's address while it serves the demo data from `folder`."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    url = f"sqlite+aiosqlite:///{folder / 'tracker.db'}"
    upgrade(url)

    async def fill() -> None:
        engine = make_engine(url)
        try:
            await seed(engine, load_catalog(), datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(fill())
    port = free_port()
    settings = Settings(
        data_dir=folder, database_url=url, secret_key=secret, base_url=f"http://127.0.0.1:{port}"
    )
    ctx = Context(settings=settings, engine=make_engine(url), catalog=load_catalog())
    web = uvicorn.Server(uvicorn.Config(create_app(ctx), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=web.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not web.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert web.started, "the web server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        web.should_exit = True
        thread.join(10)
