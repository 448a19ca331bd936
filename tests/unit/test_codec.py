"""The envelope: what goes out comes back, and what cannot be read says why."""

from __future__ import annotations

import json

import pytest

from tracker.events.codec import UndecodableEvent, decode, encode
from tracker.events.schemas import CATALOGUE, FindingEscalated, FindingReported, InspectionSubmitted


def test_it_round_trips_every_event_type():
    event = FindingEscalated(finding_id=3, facility_id=4, level=2, round=1)
    back = decode(encode(event))
    assert back == event and back.subject() == "tracker.finding.escalated"


def test_it_names_every_event_in_the_past_tense_under_tracker():
    for name, cls in CATALOGUE.items():
        assert cls.subject() == f"tracker.{name}"
        assert name.split(".")[-1].endswith("ed")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"type": "finding.vanished"}', "unknown event type"),
        (json.dumps({"type": "finding.reported", "finding_id": "x"}).encode(), "invalid finding.reported"),
    ],
)
def test_it_says_why_a_message_cannot_be_read(body, reason):
    with pytest.raises(UndecodableEvent, match=reason):
        decode(body)


def test_it_refuses_an_unknown_schema_version():
    body = json.loads(
        encode(FindingReported(finding_id=1, inspection_id=1, facility_id=1, item_code="A", severity="major"))
    )
    body["version"] = 2
    with pytest.raises(UndecodableEvent, match="invalid"):
        decode(json.dumps(body).encode())


def test_it_refuses_an_event_on_the_wrong_consumer():
    event = InspectionSubmitted(inspection_id=1, facility_id=1, finding_ids=[])
    with pytest.raises(UndecodableEvent, match=r"expected finding\.reported"):
        decode(encode(event), expected=FindingReported)
