"""The metrics every role keeps in its own process (Prometheus client), and the port that serves them for
the roles without a web server of their own (TRACKER_METRICS_PORT, bound to TRACKER_METRICS_HOST)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache

from prometheus_client import Counter, Gauge, Info, disable_created_metrics, start_http_server

from tracker.config import Settings

log = logging.getLogger("tracker.metrics")

# A counter's *_created twin says when the process started counting: noise on every scrape.
disable_created_metrics()

ROLE = Info("tracker_role", "The role this process runs")


@dataclass(frozen=True)
class SchedulerMetrics:
    active: Gauge
    runs: Counter
    last_run: Gauge
    last_seconds: Gauge
    last_counts: Gauge


@cache
def scheduler_metrics() -> SchedulerMetrics:
    """Made by the first scheduler of the process, so no other role shows a scheduler's series."""
    return SchedulerMetrics(
        active=Gauge("tracker_scheduler_active", "1 while this scheduler holds the lease, else 0"),
        runs=Counter(
            "tracker_job_runs", "Job runs by this scheduler while active, by outcome", ["job", "outcome"]
        ),
        last_run=Gauge(
            "tracker_job_last_run_timestamp_seconds",
            "When this scheduler last ran the job (Unix time)",
            ["job"],
        ),
        last_seconds=Gauge(
            "tracker_job_last_run_duration_seconds", "How long the job's last run took", ["job"]
        ),
        last_counts=Gauge(
            "tracker_job_last_run_count",
            "What the job's last run did (rows reminded, escalated, pruned …)",
            ["job", "what"],
        ),
    )


def serve_role_metrics(settings: Settings, role: str) -> None:
    """Serve GET /metrics on TRACKER_METRICS_PORT in a thread of this process, if a port is set."""
    ROLE.info({"role": role})
    if settings.metrics_port is None:
        return
    start_http_server(settings.metrics_port, addr=settings.metrics_host)
    log.info("metrics on http://%s:%s/metrics", settings.metrics_host, settings.metrics_port)
