"""GET /metrics answers in the Prometheus text format with the series an operator watches, to whom it may."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.stack import Stack
from tracker.entry.scheduler import LeasedJobs
from tracker.web.app import create_app

TOKEN = "metrics-token-0123456789"


@pytest.fixture
async def stack(open_stack, database_url: str) -> Stack:
    # No mailer: the order mail stays queued, and the queue's series have something to say.
    return await open_stack(database_url, mailer=False, settings={"metrics_token": TOKEN})


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


POSTED = (
    "tracker_http_requests_total",
    (("method", "POST"), ("route", "/api/inspections"), ("status", "201")),
)


async def test_it_serves_the_named_series_in_the_prometheus_format(stack: Stack):
    # This process's request counters live as long as the process: count from here.
    posted_before = _samples((await stack.client.get("/metrics")).text).get(POSTED, 0)
    inspector = await stack.token("inspector")
    item = next(i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general")
    response = await stack.client.post(
        "/api/inspections",
        headers=inspector,
        json={
            "facility_id": 1,
            "mode": "unannounced",
            "client_ref": "phone-1",
            "items": [{"item": item, "result": "fail", "note": "安全出口堵塞"}],
        },
    )
    assert response.status_code == 201, response.text
    await LeasedJobs(stack.ctx, "one").sweep_job()

    async def order_mail_queued() -> dict | None:
        answer = await stack.client.get("/metrics")
        samples = _samples(answer.text)
        return samples if samples.get(("tracker_mail_rows", (("status", "queued"),)), 0) >= 1 else None

    samples = await stack.wait_for(order_mail_queued, what="the order mail to be queued")
    answer = await stack.client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")

    names = {name for name, _ in samples}
    for series in (
        "tracker_outbox_backlog",
        "tracker_outbox_oldest_age_seconds",
        "tracker_mail_queued_oldest_age_seconds",
        "tracker_nats_up",
        "tracker_http_requests_total",
        "tracker_http_request_duration_seconds_bucket",
    ):
        assert series in names, series
    assert samples[("tracker_nats_up", ())] == 1
    # Every durable consumer, by name; the order was issued, so the one that issues it has nothing left.
    consumers = {dict(labels)["consumer"] for name, labels in samples if name == "tracker_consumer_pending"}
    assert "issue_the_order" in consumers
    assert samples[("tracker_consumer_pending", (("consumer", "issue_the_order"),))] == 0
    assert samples[("tracker_mail_rows", (("status", "sent"),))] == 0
    assert samples[("tracker_mail_queued_oldest_age_seconds", ())] >= 0
    # The last sweep, its time and what it did, read from the database by any web process.
    assert samples[("tracker_job_last_finished_timestamp_seconds", (("job", "sweep"),))] > 0
    assert ("tracker_job_last_count", (("job", "sweep"), ("what", "escalated"))) in samples
    # Requests are counted by route template, not by path.
    assert samples[POSTED] == posted_before + 1


async def test_it_serves_others_only_with_the_token(stack: Stack):
    remote = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(stack.ctx), client=("203.0.113.9", 40000)),
        base_url="http://tracker.test",
    )
    async with remote:
        assert (await remote.get("/metrics")).status_code == 403
        wrong = await remote.get("/metrics", headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 403
        right = await remote.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and "tracker_outbox_backlog" in right.text
