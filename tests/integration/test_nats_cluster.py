"""A 3-node JetStream cluster loses no message and stores none twice when the stream leader dies.

Real nats-server processes on loopback. The publisher sets `Nats-Msg-Id` and retries a publish that
timed out or failed with the same id, so the server's duplicate window turns an "ack lost, message
stored" retry into a no-op: exactly-once storage from at-least-once publishing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig

from tests.support import NatsCluster

log = logging.getLogger(__name__)

STREAM = "CLUSTERTEST"
TOTAL = 2_000
KILL_AFTER = 500
DURABLE = "ct-reader"
# nats-py 2.16's publish() has no msg_id argument; deduplication is this header.
MSG_ID = "Nats-Msg-Id"

T = TypeVar("T")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "cluster", size=3, name="tracker") as running:
        yield running


async def _retry(what: str, call: Callable[[], Awaitable[T]], deadline: float) -> tuple[T, int]:
    """Call until it succeeds or the deadline passes; return the result and how many tries failed.

    Errors expected while a leader is being re-elected or the client reconnects: timeouts, "no
    responders" (no stream leader right now), 503 from the JetStream API, a closed/reconnecting
    connection. Anything else is a bug and propagates at once.
    """
    failures = 0
    while True:
        try:
            return await call(), failures
        except (TimeoutError, nats.errors.Error) as exc:
            failures += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} still failing after {failures} tries: {exc!r}") from exc
            log.info("%s failed (%r), retrying", what, exc)
            await asyncio.sleep(0.1)


async def _connect(servers: list[str], *, in_order: bool = False) -> Client:
    return await nats.connect(
        servers=servers,
        dont_randomize=in_order,
        # Keep reconnecting to the surviving nodes for the whole test instead of giving up.
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
    )


async def _publish_all(js: JetStreamContext, cluster: NatsCluster) -> tuple[str, int, int]:
    """Publish TOTAL messages one at a time, killing the stream leader after KILL_AFTER."""
    killed = ""
    retries = 0
    duplicates = 0
    deadline = time.monotonic() + 120  # whole publish phase; election takes seconds, not minutes
    for i in range(TOTAL):
        if i == KILL_AFTER:
            info = await js.stream_info(STREAM)
            assert info.cluster is not None and info.cluster.leader
            killed = info.cluster.leader
            # SIGKILL: a crash, with no graceful leadership hand-over.
            cluster.node(killed).kill()
        payload = f"msg-{i:05d}".encode()
        ack, failed = await _retry(
            f"publish {i}",
            lambda payload=payload, i=i: js.publish(
                "ct.events", payload, timeout=2, headers={MSG_ID: f"ct-{i}"}
            ),
            deadline,
        )
        retries += failed
        duplicates += bool(ack.duplicate)  # None when not a duplicate
    return killed, retries, duplicates


async def test_cluster_survives_stream_leader_crash(cluster: NatsCluster) -> None:
    admin = await _connect(cluster.url_list)
    try:
        js = admin.jetstream(timeout=5)
        info = await js.add_stream(
            StreamConfig(
                name=STREAM,
                subjects=["ct.>"],
                num_replicas=3,
                storage=StorageType.FILE,
                duplicate_window=120,
            )
        )
        # Created while all three nodes are up, replicated like the stream; read after the crash.
        await js.add_consumer(
            STREAM, ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT, ack_wait=30)
        )
        assert info.cluster is not None and info.cluster.leader
        leader = cluster.node(info.cluster.leader)
    finally:
        await admin.close()

    # The publisher knows all three URLs but starts on the stream leader's node, so the crash takes
    # away both the stream leader and the client's connection: the hardest case, every run.
    others = [url for url in cluster.url_list if url != leader.url]
    nc = await _connect([leader.url, *others], in_order=True)
    try:
        assert nc.connected_url is not None and nc.connected_url.port == leader.port
        js = nc.jetstream(timeout=5)
        killed, retries, duplicates = await _publish_all(js, cluster)
        # Leadership rarely moves on its own before the crash (a slow machine); the node that led
        # at message KILL_AFTER was killed either way, so the test stays valid, only milder.
        victim = cluster.node(killed)
        assert not victim.running
        assert nc.connected_url is not None and nc.connected_url.port != victim.port
        log.warning(
            "killed stream leader %s (initially %s, the client's node) after %d messages: "
            "%d failed publish attempts, %d duplicate acks",
            killed,
            leader.server_name,
            KILL_AFTER,
            retries,
            duplicates,
        )

        sub = await js.pull_subscribe_bind(DURABLE, stream=STREAM)
        seen: dict[bytes, int] = {}
        deadline = time.monotonic() + 90
        for _ in range(1_000):  # bounded in count as well as in time
            if len(seen) >= TOTAL or time.monotonic() > deadline:
                break
            try:
                batch = await sub.fetch(250, timeout=2)
            except (TimeoutError, nats.errors.Error):
                batch = []  # consumer leader re-election, or nothing pending yet
            if not batch:
                # While the consumer has no leader, a fetch fails (or comes back empty) at once rather than
                # after its timeout: without a pause the loop's 1,000 tries could all be spent within a few
                # seconds of the crash, before the re-election, and find nothing.
                await asyncio.sleep(0.2)
                continue
            for msg in batch:
                seen[msg.data] = seen.get(msg.data, 0) + 1
                await msg.ack()

        expected = {f"msg-{i:05d}".encode() for i in range(TOTAL)}
        missing = sorted(expected - seen.keys())
        assert not missing, f"{len(missing)} messages missing, first {missing[:5]}"
        assert seen.keys() == expected

        info, _ = await _retry("stream info", lambda: js.stream_info(STREAM), time.monotonic() + 30)
        assert info.state.messages == TOTAL, "a retried publish was stored twice"
        assert info.state.last_seq == TOTAL
    finally:
        await nc.close()
