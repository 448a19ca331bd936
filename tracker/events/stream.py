"""The JetStream streams: every event under tracker.>, and the dead letters beside them."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from faststream.nats import JStream, StorageType
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StreamConfig
from nats.js.api import StorageType as NatsStorage
from nats.js.errors import NotFoundError

log = logging.getLogger("tracker.stream")

STREAM_NAME = "TRACKER"
DEADLETTER_STREAM_NAME = "TRACKER_DEADLETTER"
DEADLETTER_PREFIX = "deadletter"
# A re-publish after a relay crash is dropped as a duplicate within this window (seconds).
DUPLICATE_WINDOW = 3600.0


def event_stream(replicas: int = 1) -> JStream:
    return JStream(
        name=STREAM_NAME,
        subjects=["tracker.>"],
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=replicas,
        storage=StorageType.FILE,
        declare=True,
    )


def deadletter_subject(subject: str) -> str:
    return f"{DEADLETTER_PREFIX}.{subject}"


@dataclass(frozen=True)
class StreamLimits:
    """How long a stream keeps a message, and how large it may grow on each replica (the oldest go first).
    TRACKER_STREAM_MAX_AGE_DAYS and TRACKER_STREAM_MAX_MB; the record of handled events outlives max_age."""

    max_age_days: float = 7.0
    max_mb: int = 1024

    @property
    def max_age(self) -> timedelta:
        return timedelta(days=self.max_age_days)


def stream_configs(replicas: int = 1, limits: StreamLimits | None = None) -> tuple[StreamConfig, ...]:
    limits = limits or StreamLimits()
    bounded = {
        "storage": NatsStorage.FILE,
        "num_replicas": replicas,
        "max_age": limits.max_age.total_seconds(),
        "max_bytes": limits.max_mb * 1024 * 1024,
        "discard": DiscardPolicy.OLD,
    }
    return (
        StreamConfig(name=STREAM_NAME, subjects=["tracker.>"], duplicate_window=DUPLICATE_WINDOW, **bounded),
        StreamConfig(name=DEADLETTER_STREAM_NAME, subjects=[f"{DEADLETTER_PREFIX}.>"], **bounded),
    )


async def ensure_streams(js: JetStreamContext, replicas: int = 1, limits: StreamLimits | None = None) -> None:
    """Declare the event stream and the dead-letter stream; a stream declared before gets the limits of now
    (its age and size, its replicas), so a changed setting takes effect at the next start."""
    for config in stream_configs(replicas, limits):
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            continue
        have = info.config
        if (have.max_age, have.max_bytes, have.num_replicas) != (
            config.max_age,
            config.max_bytes,
            config.num_replicas,
        ):
            await js.update_stream(config)
            log.info(
                "stream %s now keeps messages %g days, up to %d MB",
                config.name,
                (config.max_age or 0) / 86400,
                (config.max_bytes or 0) // (1024 * 1024),
            )
