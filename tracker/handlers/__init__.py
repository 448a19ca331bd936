"""The faststream subscribers: one durable pull consumer per reaction, on the TRACKER stream."""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy, FastStream
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from faststream.nats.subscriber.usecases import stream_pull_subscriber
from faststream.specification import AsyncAPI
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig

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

log = logging.getLogger("tracker.handlers")


def _keep_partial_batches() -> None:
    """faststream 0.7.8's batch pull loop catches nats.errors.TimeoutError, but nats-py 2.16's fetch may
    raise the built-in TimeoutError (its parent class): the loop task then dies and drops the messages it
    had gathered, unacknowledged, until ack_wait brings them back. Catching the parent class instead
    keeps the partial batch. Remove once faststream catches it itself."""
    if stream_pull_subscriber.TimeoutError is not TimeoutError:
        stream_pull_subscriber.TimeoutError = TimeoutError  # type: ignore[misc]


def build_broker(ctx: Context, servers: list[str], reactions: tuple[Reaction, ...] = REACTIONS) -> NatsBroker:
    _keep_partial_batches()
    # Each message's receipt is logged at DEBUG: at INFO the log would grow with every event.
    broker = NatsBroker(servers, max_reconnect_attempts=-1, reconnect_time_wait=0.5, log_level=logging.DEBUG)
    # Streams are declared by tracker.relay.ensure_streams, with their replicas and dead-letter stream.
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
            # The whole batch in one transaction: the database, not the broker, is the slow step.
            await handle_batch(reaction, ctx, [event for _, event in readable])
        except Exception:  # noqa: BLE001 - the batch is retried one event at a time
            # One bad event must not hold back the rest: go through them one by one.
            for raw, event in readable:
                await one_at_a_time(raw, event)
        else:
            await asyncio.gather(*(raw.ack() for raw, _ in readable))

    on_batch.__name__ = reaction.consumer
    on_batch.__doc__ = reaction.description
    broker.subscriber(
        reaction.event.subject(),
        stream=stream,
        durable=reaction.consumer,
        pull_sub=PullSub(batch_size=200, timeout=2.0, batch=True),
        # A delivery lost in flight comes back after ack_wait; keep it short, handlers are idempotent.
        config=ConsumerConfig(max_deliver=MAX_DELIVER + 1, ack_wait=20, max_ack_pending=2000),
        ack_policy=AckPolicy.MANUAL,
        title=reaction.consumer,
        description=reaction.description,
    )(on_batch)


def asyncapi_app(servers: list[str] | None = None) -> FastStream:
    """The event catalogue as an AsyncAPI document: each consumer with the schema of the event it reads.

    The running subscribers take raw messages (so that a malformed one can be dead-lettered with its
    reason); this twin declares the same subjects and durables with typed payloads, for the document only.
    """
    broker = NatsBroker(servers or ["nats://localhost:4222"])
    stream = JStream(name=STREAM_NAME, declare=False)
    for reaction in REACTIONS:
        broker.subscriber(
            reaction.event.subject(),
            stream=stream,
            durable=reaction.consumer,
            pull_sub=PullSub(batch_size=100),
            title=reaction.consumer,
            description=reaction.description,
        )(_typed(reaction))
    # The relay publishes every event, whether or not a reaction here reads it.
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
