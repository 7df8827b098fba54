"""The Redis broker's wire form of an event, as instances of any version read it."""

from __future__ import annotations

from trichat.broker.base import KICK, MESSAGE, Event
from trichat.broker.redis import decode_event, encode_event


def test_a_kick_carries_its_reason_in_the_payload_place_v1_instances_read() -> None:
    kick = Event(KICK, "c", user_id="u", reason="removed")
    wire = encode_event(b"o", kick)
    assert wire == b'o\n["kick",0,0,"u"]\nremoved'  # what a v1 instance sends and reads
    assert decode_event("c", wire) == (b"o", kick)


def test_a_message_round_trips_with_its_payload() -> None:
    event = Event(MESSAGE, "c", 7, b'{"type":"message"}', "u", 123)
    assert decode_event("c", encode_event(b"o", event)) == (b"o", event)
