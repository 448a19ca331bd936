"""Each role as a long-running coroutine that stops cleanly when asked."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

import nats
import uvicorn
import uvloop

from tracker.checklists import load_catalog
from tracker.clock import SystemClock
from tracker.config import Settings
from tracker.documents import printer
from tracker.entry.scheduler import run_scheduler
from tracker.events.relay import ensure_streams, run_relay
from tracker.handlers.consuming import start_broker
from tracker.logs import setup_logging, through_the_root
from tracker.mail.sender import run_mailer
from tracker.metrics import ROLE, serve_role_metrics
from tracker.service.context import Context
from tracker.store.db import make_engine
from tracker.web.access_log import keep_tokens_out_of_the_log
from tracker.web.app import create_app

log = logging.getLogger("tracker")


def make_context(settings: Settings) -> Context:
    return Context(settings=settings, engine=make_engine(settings.db_url), catalog=load_catalog())


def run(main: Callable[[asyncio.Event], Awaitable[None]], role: str = "tracker") -> None:
    """Run a role until SIGINT or SIGTERM, then let it finish what it holds."""
    setup_logging(role)

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    uvloop.run(runner())


async def worker(settings: Settings, stop: asyncio.Event) -> None:
    ctx = make_context(settings)
    settings.require("secret_key")  # order links in mail are signed
    servers = settings.nats_servers
    nc = await nats.connect(servers, max_reconnect_attempts=-1)
    await ensure_streams(nc.jetstream(), settings.stream_replicas, settings.stream_limits)
    await nc.close()
    broker = await start_broker(ctx, servers)
    through_the_root()
    serve_role_metrics(settings, "worker")
    log.info("worker consuming from %s", settings.nats_hosts)
    try:
        await stop.wait()
    finally:
        await broker.stop()
        await ctx.engine.dispose()


async def relay(settings: Settings, stop: asyncio.Event) -> None:
    engine = make_engine(settings.db_url)
    serve_role_metrics(settings, "relay")
    try:
        await run_relay(
            engine,
            settings.nats_servers,
            SystemClock(),
            stop,
            settings.relay_poll_seconds,
            settings.stream_replicas,
            settings.stream_limits,
        )
    finally:
        await engine.dispose()


async def scheduler(settings: Settings, stop: asyncio.Event) -> None:
    ctx = make_context(settings)
    serve_role_metrics(settings, "scheduler")
    try:
        await run_scheduler(ctx, stop)
    finally:
        await ctx.engine.dispose()


# The mailer prints each order; where its printer processes share cores with the web and the loop, they come
# first: in a burst the mail queue waits (it is durable), an inspector's POST does not. The mailer itself keeps
# its priority: it takes its turns at SQLite's write lock, which a process put behind the others would hold
# while they ran and waited for it.
MAILER_NICENESS = 10


async def mailer(settings: Settings, stop: asyncio.Event) -> None:
    printer.niceness = MAILER_NICENESS
    smtp_url = settings.require("smtp_url")
    settings.require("secret_key")  # an order's mail is written as it is sent, with its signed link
    engine = make_engine(settings.db_url)
    serve_role_metrics(settings, "mailer")
    try:
        await run_mailer(
            engine,
            smtp_url,
            settings.mail_sender,
            SystemClock(),
            stop,
            settings.mailer_poll_seconds,
            settings=settings,
        )
    finally:
        await engine.dispose()


async def web(settings: Settings, stop: asyncio.Event, host: str, port: int) -> None:
    settings.require("secret_key")
    ctx = make_context(settings)
    ROLE.info({"role": "web"})  # its metrics are served at /metrics (tracker.web.metrics)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx),
            host=host,
            port=port,
            log_level="info",
            proxy_headers=True,
            # uvicorn's loggers go through the role's own format (tracker.logs), without colour codes.
            log_config=None,
            access_log=settings.access_log,
        )
    )
    keep_tokens_out_of_the_log()
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await serving
    await ctx.engine.dispose()


async def sink(settings: Settings, stop: asyncio.Event, host: str, port: int) -> None:
    from tracker.mail.sink import start_sink

    controller = start_sink(settings.mail_dir, host, port)
    log.info("mail sink on %s:%s writing to %s", host, port, settings.mail_dir)
    try:
        await stop.wait()
    finally:
        controller.stop()
