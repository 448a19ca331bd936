"""The product on a 3-node JetStream cluster: the TRACKER stream's leader dies mid-stream, and still every
finding is ordered and every facility head gets exactly one order mail per inspection.

Real nats-server processes, a real SQLite database, the real relay, worker and mailer, a real SMTP server.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import nats.errors
import pytest
from sqlalchemy import Select, func, select

from tests.support import NatsCluster, SmtpRecorder
from tests.support.stack import SECRET, Stack, add_facility, add_people, prepared_engine
from tracker.checklists import load_catalog
from tracker.config import Settings
from tracker.events.stream import STREAM_NAME
from tracker.store.tables import findings, mail, orders

INSPECTIONS = 100
KILL_AFTER = 40
HEAD = "head-f1@example.cn"
ORDER_LINK = re.compile(r"/orders/(\d+)\?token=")

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "cluster", size=3, name="tracker") as running:
        yield running


@pytest.fixture
async def stack(
    tmp_path: Path, database_url: str, cluster: NatsCluster, smtp_recorder: SmtpRecorder
) -> AsyncIterator[Stack]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=database_url,
        nats_url=cluster.urls,
        smtp_url=smtp_recorder.url,
        secret_key=SECRET,
        base_url="http://tracker.test",
        mailer_poll_seconds=0.1,
        stream_replicas=3,
    )
    stack = Stack(settings=settings, engine=await prepared_engine(database_url), catalog=load_catalog())
    await add_facility(stack.engine, "F1")
    await add_people(stack.engine, "F1")
    try:
        await stack.start()
        yield stack
    finally:
        await stack.close()


async def stream_leader(cluster: NatsCluster, timeout: float = 30.0) -> tuple[str, int]:
    """Name of the node leading the TRACKER stream, and the stream's replica count.

    Right after the stream is made or a node dies there may be no leader for a moment: ask again.
    """
    deadline = time.monotonic() + timeout
    nc = await nats.connect(cluster.url_list, connect_timeout=2, max_reconnect_attempts=-1)
    try:
        while True:
            try:
                info = await nc.jetstream().stream_info(STREAM_NAME)
                if info.cluster is not None and info.cluster.leader:
                    return info.cluster.leader, info.config.num_replicas or 1
            except (TimeoutError, nats.errors.Error):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the {STREAM_NAME} stream had no leader within {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await nc.close()


async def submit(stack: Stack, headers: dict[str, str], numbers: range, codes: list[str]) -> None:
    for n in numbers:
        response = await stack.client.post(
            "/api/inspections",
            headers=headers,
            json={
                "facility_id": 1,
                "mode": "routine",
                "client_ref": f"cluster-{n}",
                "items": [{"item": codes[n % len(codes)], "result": "fail", "note": f"第{n}次检查"}],
            },
        )
        assert response.status_code == 201, response.text


async def count(stack: Stack, query: Select) -> int:
    async with stack.engine.connect() as conn:
        return int(await conn.scalar(query) or 0)


def order_mails(recorder: SmtpRecorder) -> list[int]:
    """The order id named by the link in each order mail the facility head received."""
    ids = []
    for received in recorder.messages:
        if HEAD in received.rcpt_tos and "整改通知书" in received.subject:
            match = ORDER_LINK.search(received.message.get_body(("plain",)).get_content())
            assert match, f"order mail without an order link: {received.subject}"
            ids.append(int(match.group(1)))
    return ids


async def progress(stack: Stack, recorder: SmtpRecorder) -> str:
    """Where the pipeline stands, for a failure message."""
    async with stack.engine.connect() as conn:
        statuses = dict(
            (await conn.execute(select(findings.c.status, func.count()).group_by(findings.c.status)))
            .tuples()
            .all()
        )
        queued = dict(
            (
                await conn.execute(
                    select(mail.c.status, func.count()).where(mail.c.kind == "order").group_by(mail.c.status)
                )
            )
            .tuples()
            .all()
        )
    return (
        f"findings by status {statuses}, order mail rows by status {queued}, "
        f"{await stack.unpublished()} outbox rows unpublished, {len(order_mails(recorder))} order mails received"
    )


async def test_it_orders_every_finding_and_mails_each_order_once_when_the_stream_leader_dies(
    stack: Stack, cluster: NatsCluster, smtp_recorder: SmtpRecorder
) -> None:
    _, replicas = await stream_leader(cluster)
    assert replicas == 3

    inspector = await stack.token("inspector")
    codes = [i.code for i in stack.catalog.items(facility_type="nursing_home") if i.severity == "general"]
    await submit(stack, inspector, range(KILL_AFTER), codes)
    # The pipeline is flowing when the leader dies: some orders have gone out already.
    await stack.wait_for(lambda: order_mails(smtp_recorder), timeout=60, what="the first order mail")

    leader, _ = await stream_leader(cluster)
    cluster.node(leader).kill()
    await submit(stack, inspector, range(KILL_AFTER, INSPECTIONS), codes)

    # A delivery lost with the dead node comes back after the consumers' ack wait (60 s): allow twice that.
    lead = await stack.token("lead")

    async def ordered() -> bool:
        response = await stack.client.get(
            "/api/findings", headers=lead, params={"status": "ordered", "limit": 1}
        )
        assert response.status_code == 200, response.text
        return response.json()["total"] == INSPECTIONS

    try:
        await stack.wait_for(ordered, timeout=120, what=f"all {INSPECTIONS} findings to be ordered")
        await stack.wait_for(
            lambda: len(order_mails(smtp_recorder)) >= INSPECTIONS,
            timeout=120,
            what=f"{INSPECTIONS} order mails",
        )
    except AssertionError as error:
        raise AssertionError(f"{error}; {await progress(stack, smtp_recorder)}") from None
    new_leader, _ = await stream_leader(cluster)
    assert new_leader != leader

    # A second mail for an order (a duplicate row, a re-send) would follow the first closely: give it time.
    await asyncio.sleep(2)
    mailed = Counter(order_mails(smtp_recorder))
    assert [order for order, times in mailed.items() if times > 1] == []
    assert await count(stack, select(func.count()).select_from(orders)) == INSPECTIONS
    async with stack.engine.connect() as conn:
        order_ids = set((await conn.execute(select(orders.c.id))).scalars())
    assert set(mailed) == order_ids
    assert await stack.unpublished() == 0
