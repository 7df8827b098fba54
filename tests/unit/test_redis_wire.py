"""The Redis broker's wire form of an event, as instances of any version read it;
and how its PubSub connection reads Redis' replies."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from trichat.broker.base import KICK, MESSAGE, Event
from trichat.broker.redis import decode_event, encode_event
from trichat.broker.redis_pubsub import PubSubConnection


def test_a_kick_carries_its_reason_in_the_payload_place_v1_instances_read() -> None:
    kick = Event(KICK, "c", user_id="u", reason="removed")
    wire = encode_event(b"o", kick)
    assert wire == b'o\n["kick",0,0,"u"]\nremoved'  # what a v1 instance sends and reads
    assert decode_event("c", wire) == (b"o", kick)


def test_a_message_round_trips_with_its_payload() -> None:
    event = Event(MESSAGE, "c", 7, b'{"type":"message"}', "u", 123)
    assert decode_event("c", encode_event(b"o", event)) == (b"o", event)


async def test_the_pubsub_reader_waits_for_a_reply_split_over_reads() -> None:
    ours, redis_side = trio.testing.memory_stream_pair()
    conn = PubSubConnection(ours)
    wire = b"*3\r\n$7\r\nmessage\r\n$2\r\nev\r\n$5\r\nhello\r\n"
    await redis_side.send_all(wire[:20])
    assert await conn.receive() == []
    await redis_side.send_all(wire[20:] + wire)
    assert await conn.receive() == [[b"message", b"ev", b"hello"]] * 2
    await conn.subscribe("a", "b")
    assert await redis_side.receive_some() == b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n"


async def test_the_pubsub_reader_turns_bad_replies_into_redis_errors() -> None:
    ours, redis_side = trio.testing.memory_stream_pair()
    conn = PubSubConnection(ours)
    await redis_side.send_all(b"-ERR unknown command\r\n")
    with pytest.raises(ResponseError, match="unknown command"):
        await conn.receive()
    await redis_side.send_all(b"?garbage\r\n")
    with pytest.raises(RedisConnectionError, match="protocol error"):
        await conn.receive()
    await redis_side.aclose()
    with pytest.raises(RedisConnectionError, match="closed"):
        await PubSubConnection(ours).receive()
