"""The JetStream streams: every event under tracker.>, and the dead letters beside them."""

from __future__ import annotations

from faststream.nats import JStream, StorageType

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
