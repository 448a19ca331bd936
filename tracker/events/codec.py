"""The envelope on the wire: JSON with `type` naming the event; anything else is rejected with a reason."""

from __future__ import annotations

import json

from pydantic import ValidationError

from tracker.events.schemas import CATALOGUE, Event


class UndecodableEvent(Exception):
    """The message is not an event this version of tracker understands; the text says why."""


def encode(event: Event) -> bytes:
    body = event.model_dump(mode="json")
    body["type"] = event.name
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def decode(data: bytes, expected: type[Event] | None = None) -> Event:
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UndecodableEvent(f"not JSON: {error}") from None
    if not isinstance(body, dict):
        raise UndecodableEvent("not a JSON object")
    name = body.pop("type", None)
    cls = CATALOGUE.get(name) if isinstance(name, str) else None
    if cls is None:
        raise UndecodableEvent(f"unknown event type {name!r}")
    if expected is not None and cls is not expected:
        raise UndecodableEvent(f"expected {expected.name}, got {name}")
    try:
        return cls.model_validate(body)
    except ValidationError as error:
        raise UndecodableEvent(f"invalid {name}: {error.errors(include_url=False)}") from None
