"""GET /metrics on the web role: the request counts and durations of this process, and what any process can
read from the database and JetStream: the outbox backlog, the mail queue, the scheduler's last runs, and what
each durable consumer has yet to handle. Served to loopback clients (a Prometheus on the same host, or one that
scrapes through an SSH tunnel) and to whoever sends `Authorization: Bearer <TRACKER_METRICS_TOKEN>`; anyone
else gets 403. Behind a reverse proxy the client is the one the proxy names (uvicorn's proxy_headers)."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import time
from datetime import datetime

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.events.stream import STREAM_NAME
from tracker.service.context import Context
from tracker.store.job_runs import last_runs
from tracker.store.tables import mail, outbox

log = logging.getLogger("tracker.metrics")

disable_created_metrics()  # no *_created twin for each series (tracker.metrics says why)
REQUESTS = Counter("tracker_http_requests", "HTTP requests answered", ["method", "route", "status"])
DURATION = Histogram(
    "tracker_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class CountRequests:
    """Counts and times every HTTP request (plain ASGI: no extra task per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # The route's template (/api/findings/{finding_id}), never the path: a series per route, not per id.
            route = getattr(scope.get("route"), "path", "unmatched")
            DURATION.labels(scope["method"], route).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], route, str(status)).inc()


def may_read(request: Request, token: str | None) -> bool:
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _age(now: datetime, oldest: datetime | None) -> float:
    # A row written after `now` was read (by another process, as the scrape ran) is no age at all.
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


async def _database_series(ctx: Context, registry: CollectorRegistry) -> None:
    now = ctx.clock.now()
    backlog = Gauge("tracker_outbox_backlog", "Outbox rows not yet published", registry=registry)
    backlog_age = Gauge(
        "tracker_outbox_oldest_age_seconds",
        "Age of the oldest unpublished outbox row (0: none)",
        registry=registry,
    )
    queue = Gauge("tracker_mail_rows", "Mail rows by status", ["status"], registry=registry)
    queue_age = Gauge(
        "tracker_mail_queued_oldest_age_seconds",
        "Age of the oldest mail still queued (0: none)",
        registry=registry,
    )
    async with ctx.engine.connect() as conn:
        count, oldest = (
            await conn.execute(
                select(func.count(), func.min(outbox.c.created_at)).where(outbox.c.published_at.is_(None))
            )
        ).one()
        backlog.set(count)
        backlog_age.set(_age(now, oldest))
        for status in ("queued", "sent", "failed"):
            queue.labels(status)
        for status, n in (
            await conn.execute(select(mail.c.status, func.count()).group_by(mail.c.status))
        ).all():
            queue.labels(status).set(n)
        oldest = (
            await conn.execute(select(func.min(mail.c.created_at)).where(mail.c.status == "queued"))
        ).scalar()
        queue_age.set(_age(now, oldest))
    finished = Gauge(
        "tracker_job_last_finished_timestamp_seconds",
        "When the active scheduler last finished the job (Unix time)",
        ["job"],
        registry=registry,
    )
    counts = Gauge(
        "tracker_job_last_count", "What the job's last run did", ["job", "what"], registry=registry
    )
    for run in await last_runs(ctx.engine):
        finished.labels(run.name).set(run.finished_at.timestamp())
        for what, n in (run.counts or {}).items():
            counts.labels(run.name, what).set(n)


async def _consumer_series(ctx: Context, registry: CollectorRegistry) -> None:
    up = Gauge("tracker_nats_up", "1 if JetStream answered this scrape", registry=registry)
    pending = Gauge(
        "tracker_consumer_pending",
        "Messages a durable consumer has not been delivered",
        ["consumer"],
        registry=registry,
    )
    unacked = Gauge(
        "tracker_consumer_ack_pending",
        "Messages delivered to a consumer and not yet acknowledged",
        ["consumer"],
        registry=registry,
    )
    if not ctx.settings.nats_url:
        return
    import nats

    try:
        nc = await asyncio.wait_for(
            nats.connect(ctx.settings.nats_servers, allow_reconnect=False, connect_timeout=2), timeout=3
        )
    except Exception as error:  # noqa: BLE001 - NATS away: say so in the series, not with a 500
        log.warning("metrics: cannot reach NATS: %r", error)
        up.set(0)
        return
    try:
        for info in await asyncio.wait_for(nc.jetstream().consumers_info(STREAM_NAME), timeout=3):
            pending.labels(info.name).set(info.num_pending or 0)
            unacked.labels(info.name).set(info.num_ack_pending or 0)
        up.set(1)
    except Exception as error:  # noqa: BLE001
        log.warning("metrics: cannot read the consumers: %r", error)
        up.set(0)
    finally:
        await nc.close()


def install_metrics(app: FastAPI, ctx: Context) -> None:
    app.add_middleware(CountRequests)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        if not may_read(request, ctx.settings.metrics_token):
            return Response("metrics are served to localhost, or with the metrics token\n", status_code=403)
        registry = CollectorRegistry()
        await _database_series(ctx, registry)
        await _consumer_series(ctx, registry)
        # The classic text format (0.0.4), which every Prometheus reads; the names are plain ASCII, so it is the
        # same text as the newer version's.
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
