"""The faststream side of the reactions: one durable pull consumer per reaction on the TRACKER stream, the pull
loop that hands a batch over as soon as it has arrived, existing consumers brought in line before a worker
starts, and the AsyncAPI document of the same subscribers."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

import nats
from faststream import AckPolicy, FastStream
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.nats.subscriber.usecases.stream_pull_subscriber import BatchPullStreamSubscriber
from faststream.specification import AsyncAPI
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig
from nats.js.errors import NotFoundError

from tracker.events.codec import decode
from tracker.events.schemas import CATALOGUE, Event
from tracker.events.stream import DEADLETTER_STREAM_NAME, STREAM_NAME
from tracker.handlers.base import (
    MAX_DELIVER,
    Reaction,
    UndecodableEvent,
    backoff_seconds,
    dead_letter,
    handle_batch,
    handle_one,
)
from tracker.handlers.reactions import REACTIONS
from tracker.service.context import Context

log = logging.getLogger("tracker.handlers")  # the name the logs have always shown


# How long a worker waits for an event before asking again, and how long, once one came, for those right
# behind it: a batch is what has arrived, handed over at once, not what a full window would gather.
WAIT_SECONDS = 5.0
GATHER_SECONDS = 0.01
BATCH_SIZE = 200


async def _hand_over_what_arrived(subscriber: BatchPullStreamSubscriber, consumer: str) -> None:
    """The pull loop of each subscriber, instead of faststream 0.7's: that one fetches again until the batch
    is full or its timeout has passed, and nats-py's fetch of n waits out its timeout once the first message
    came, so a lone event waited the whole window (about 2 s a hop). Here a fetch of one waits for the first
    event; what is already behind it comes with a second, short fetch; the two go to the handler together."""
    sub = subscriber.subscription
    assert sub is not None
    while subscriber.running:
        try:
            messages = await sub.fetch(batch=1, timeout=WAIT_SECONDS)
        except TimeoutError:  # nats-py's timeouts, and its temporary statuses, derive from it
            continue
        except Exception as error:  # noqa: BLE001 - NATS away, reconnecting, no consumer leader yet: ask again
            log.info("%s could not fetch, trying again: %r", consumer, error)
            await asyncio.sleep(0.5)
            continue
        try:
            messages += await sub.fetch(batch=BATCH_SIZE - 1, timeout=GATHER_SECONDS)
        except Exception:  # noqa: BLE001 - the first is handed over alone; the rest come next turn
            pass
        if subscriber.running:
            await subscriber.consume(messages)


async def start_broker(ctx: Context, servers: list[str]) -> NatsBroker:
    """The worker's consumers, started: existing ones brought in line first (ensure_consumers)."""
    nc = await nats.connect(servers)
    try:
        await ensure_consumers(nc.jetstream())
    finally:
        await nc.close()
    broker = build_broker(ctx, servers)
    await broker.start()
    return broker


def build_broker(ctx: Context, servers: list[str], reactions: tuple[Reaction, ...] = REACTIONS) -> NatsBroker:
    # Each message's receipt is logged at DEBUG: at INFO the log would grow with every event.
    broker = NatsBroker(servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5, log_level=logging.DEBUG)
    # Streams are declared by tracker.events.relay.ensure_streams, with their replicas and dead-letter stream.
    stream = JStream(name=STREAM_NAME, declare=False)
    for reaction in reactions:
        _subscribe(broker, stream, reaction, ctx)
    return broker


def _subscribe(broker: NatsBroker, stream: JStream, reaction: Reaction, ctx: Context) -> None:
    async def publish_deadletter(body: bytes, subject: str, headers: dict[str, str]) -> None:
        await broker.publish(body, subject, headers=headers, stream=DEADLETTER_STREAM_NAME)

    async def one_at_a_time(raw: Msg, event: Event) -> None:
        delivered = raw.metadata.num_delivered
        try:
            await handle_one(reaction, ctx, event)
        except Exception as error:  # noqa: BLE001 - any failure here is retried, then dead-lettered
            if delivered >= MAX_DELIVER:
                await dead_letter(
                    ctx,
                    publish_deadletter,
                    reaction.consumer,
                    raw.subject,
                    raw.data,
                    f"failed {delivered} times, last: {error!r}",
                )
                await raw.ack()
            else:
                log.warning("%s failed on delivery %d, retrying: %r", reaction.consumer, delivered, error)
                await raw.nak(delay=backoff_seconds(delivered))
        else:
            await raw.ack()

    async def on_batch(msg: NatsMessage) -> None:
        readable: list[tuple[Msg, Event]] = []
        for raw in msg.raw_message:
            try:
                event = decode(raw.data, expected=reaction.event)
            except UndecodableEvent as error:
                await dead_letter(
                    ctx, publish_deadletter, reaction.consumer, raw.subject, raw.data, str(error)
                )
                await raw.ack()
                continue
            if reaction.wants(event):
                readable.append((raw, event))
            else:
                await raw.ack()  # not this reaction's business: nothing to do, nothing to record
        if not readable:
            return
        try:
            # The batch in few transactions: the database, not the broker, is the slow step.
            await handle_batch(reaction, ctx, [event for _, event in readable])
        except Exception:  # noqa: BLE001 - the batch is retried one event at a time
            # One bad event must not hold back the rest: go through them one by one.
            for raw, event in readable:
                await one_at_a_time(raw, event)
        else:
            await asyncio.gather(*(raw.ack() for raw, _ in readable))

    on_batch.__name__ = reaction.consumer
    on_batch.__doc__ = reaction.description
    subscriber = broker.subscriber(
        reaction.subjects[0],
        stream=stream,
        durable=reaction.consumer,
        pull_sub=PullSub(batch_size=BATCH_SIZE, timeout=WAIT_SECONDS, batch=True),
        config=consumer_config(reaction),
        ack_policy=AckPolicy.MANUAL,
        title=reaction.consumer,
        description=reaction.description,
    )
    subscriber(on_batch)
    subscriber._consume_pull = partial(_hand_over_what_arrived, subscriber, reaction.consumer)  # type: ignore[method-assign]


def consumer_config(reaction: Reaction) -> ConsumerConfig:
    # A delivery lost in flight comes back after ack_wait; keep it short, handlers are idempotent.
    config = ConsumerConfig(max_deliver=MAX_DELIVER + 1, ack_wait=20, max_ack_pending=2000)
    if len(reaction.subjects) > 1:
        config.filter_subjects = list(reaction.subjects)
    return config


async def ensure_consumers(js: JetStreamContext, reactions: tuple[Reaction, ...] = REACTIONS) -> None:
    """Bring each existing durable consumer's subjects in line with its reaction's: the subscribers bind to
    a consumer that exists as it is, so one made by an earlier version would keep the subjects it had (the
    major alert's once took every finding.reported). New consumers are made by the subscribers."""
    for reaction in reactions:
        try:
            info = await js.consumer_info(STREAM_NAME, reaction.consumer)
        except NotFoundError:
            continue
        config = info.config
        if set(config.filter_subjects or [config.filter_subject]) == set(reaction.subjects):
            continue
        if len(reaction.subjects) > 1:
            config.filter_subject, config.filter_subjects = None, list(reaction.subjects)
        else:
            config.filter_subject, config.filter_subjects = reaction.subjects[0], None
        await js.add_consumer(STREAM_NAME, config)  # an update: same durable, its place in the stream kept
        log.info("consumer %s now reads %s", reaction.consumer, ", ".join(reaction.subjects))


def asyncapi_app(servers: list[str] | None = None) -> FastStream:
    """The event catalogue as an AsyncAPI document: each consumer with the schema of the event it reads.

    The running subscribers take raw messages (so that a malformed one can be dead-lettered with its
    reason); this twin declares the same subjects and durables with typed payloads, for the document only.
    """
    broker = NatsBroker(servers or ["nats://localhost:4222"])
    stream = JStream(name=STREAM_NAME, declare=False)
    for reaction in REACTIONS:
        broker.subscriber(
            reaction.subjects[0],
            stream=stream,
            durable=reaction.consumer,
            pull_sub=PullSub(batch_size=100),
            title=reaction.consumer,
            description=reaction.description,
        )(_typed(reaction))
    # The relay publishes every event, whether or not a reaction here reads it; a FindingReported below its
    # type's subject, on ….major or ….general, an OrderIssued on ….mailed (Event.published_subject).
    for event in CATALOGUE.values():
        broker.publisher(
            event.subject(),
            stream=stream,
            schema=event,
            title=f"publish {event.name}",
            description=(event.__doc__ or "").strip(),
        )
    broker.publisher(
        "deadletter.tracker.>",
        title="dead letters",
        description="Messages a consumer could not read, with the reason in the Tracker-Reason header.",
    )
    return FastStream(
        broker,
        specification=AsyncAPI(
            title="tracker events", version="1.0.0", description="Facts of the hazard-closure loop."
        ),
    )


def _typed(reaction: Reaction):
    async def consumer(event) -> None:
        return None

    consumer.__annotations__ = {"event": reaction.event, "return": None}
    consumer.__name__ = reaction.consumer
    return consumer
