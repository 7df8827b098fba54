from __future__ import annotations

import struct

import orjson
import pytest

from trichat.errors import ClientError
from trichat.models import Message
from trichat.protocol import frames


def parse(obj: object) -> frames.ClientFrame:
    return frames.parse(orjson.dumps(obj), max_content_chars=10)


def test_parse_each_type() -> None:
    assert parse({"type": "join", "channel_id": "c"}) == frames.Join("c", None)
    assert parse({"type": "join", "channel_id": "c", "since": 4}) == frames.Join("c", 4)
    assert parse({"type": "leave", "channel_id": "c"}) == frames.Leave("c")
    assert parse({"type": "typing", "channel_id": "c"}) == frames.Typing("c")
    assert parse({"type": "refresh", "token": "t"}) == frames.Refresh("t")
    assert parse(
        {"type": "message", "channel_id": "c", "content": "hi", "message_id": "m"}
    ) == frames.Send("c", "hi", "m")
    assert parse({"type": "message", "channel_id": "c", "content": "hi"}) == frames.Send(
        "c", "hi", None
    )


def test_unknown_fields_are_ignored() -> None:
    assert parse({"type": "leave", "channel_id": "c", "extra": [1]}) == frames.Leave("c")


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "join", "channel_id": "c", "since": True},
        {"type": "join", "channel_id": "c", "since": 1.5},
        {"type": "join", "channel_id": ""},
        {"type": 3},
        {"type": "message", "channel_id": "c", "content": "x", "message_id": ""},
        {"type": "message", "channel_id": "c", "content": "x", "message_id": "m" * 65},
    ],
)
def test_bad_request(obj: object) -> None:
    with pytest.raises(ClientError) as info:
        parse(obj)
    assert info.value.code == "bad_request"


def test_too_long_counts_characters() -> None:
    assert parse({"type": "message", "channel_id": "c", "content": "ü" * 10})
    with pytest.raises(ClientError) as info:
        parse({"type": "message", "channel_id": "c", "content": "x" * 11, "message_id": "m"})
    assert info.value.code == "too_long"
    assert (info.value.channel_id, info.value.message_id) == ("c", "m")


def test_encode_message_and_ack() -> None:
    msg = Message("c", 7, "m", "u", "name", None, None, "hi", "user", 1_768_471_200_123)
    body = orjson.loads(frames.encode_message(msg))
    assert body["type"] == "message" and body["seq"] == 7
    assert body["timestamp"] == "2026-01-15T10:00:00.123Z"
    ack = orjson.loads(frames.encode_ack(msg))
    assert ack == {
        "type": "ack",
        "channel_id": "c",
        "message_id": "m",
        "seq": 7,
        "timestamp": "2026-01-15T10:00:00.123Z",
    }


def test_error_frame_carries_ids() -> None:
    err = ClientError(
        "rate_limited", "slow down", channel_id="c", message_id="m", retry_after=1.23456
    )
    assert orjson.loads(frames.encode_error(err)) == {
        "type": "error",
        "code": "rate_limited",
        "error": "slow down",
        "channel_id": "c",
        "message_id": "m",
        "retry_after": 1.235,
    }


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536])
def test_ws_frame_headers(size: int) -> None:
    payload = b"x" * size
    frame = frames.ws_frame(payload)
    assert frame[0] == 0x81 and frame.endswith(payload)
    if size < 126:
        assert frame[1] == size
    elif size < 65536:
        assert frame[1] == 126 and struct.unpack("!H", frame[2:4])[0] == size
    else:
        assert frame[1] == 127 and struct.unpack("!Q", frame[2:10])[0] == size


def test_close_frame() -> None:
    frame = frames.ws_close_frame(1013, "slow consumer")
    assert frame[0] == 0x88 and frame[2:4] == (1013).to_bytes(2, "big")
    assert frame[4:] == b"slow consumer"
