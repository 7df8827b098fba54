from __future__ import annotations

import struct

import orjson
import pytest

from trichat.errors import ClientError
from trichat.models import Message, ReadMark
from trichat.protocol import frames
from trichat.protocol.read_frames import encode_read, encode_receipt


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


CID = "6da78d63-0ed9-428e-84fa-c66bf2e97bd1"


def test_message_reply_and_mentions() -> None:
    base = {"type": "message", "channel_id": CID, "content": "hi", "message_id": "m"}
    assert parse({**base, "parent_seq": 3}) == frames.Send(CID, "hi", "m", parent_seq=3)
    assert parse({**base, "parent_seq": None, "mentions": None}) == frames.Send(CID, "hi", "m")
    assert parse({**base, "mentions": ["bob", "b" * 128]}) == frames.Send(
        CID, "hi", "m", mentions=("bob", "b" * 128)
    )
    assert parse({**base, "mentions": []}) == frames.Send(CID, "hi", "m")
    many = [f"u{i}" for i in range(frames.MAX_MENTIONS)]
    assert parse({**base, "mentions": many, "parent_seq": 2**62}) == frames.Send(
        CID, "hi", "m", 2**62, tuple(many)
    )


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"parent_seq": 0}, "'parent_seq' must be an integer in 1.."),
        ({"parent_seq": -1}, "'parent_seq' must be an integer in 1.."),
        ({"parent_seq": 2**62 + 1}, "'parent_seq' must be an integer in 1.."),
        ({"parent_seq": "3"}, "'parent_seq' must be an integer in 1.."),
        ({"parent_seq": True}, "'parent_seq' must be an integer in 1.."),
        ({"parent_seq": 1.0}, "'parent_seq' must be an integer in 1.."),
        ({"mentions": "bob"}, "'mentions' must be a list of user ids"),
        ({"mentions": {"bob": 1}}, "'mentions' must be a list of user ids"),
        ({"mentions": [f"u{i}" for i in range(21)]}, "more than 20 user ids"),
        ({"mentions": [""]}, "each mention must be a user id of 1..128 characters"),
        ({"mentions": ["b" * 129]}, "each mention must be a user id of 1..128 characters"),
        ({"mentions": [7]}, "each mention must be a user id of 1..128 characters"),
        ({"mentions": [None]}, "each mention must be a user id of 1..128 characters"),
        ({"mentions": ["a\x00b"]}, "a mention must not contain NUL"),
    ],
)
def test_message_bad_reply_or_mentions(extra: dict[str, object], says: str) -> None:
    frame = {"type": "message", "channel_id": CID, "content": "hi", "message_id": "m", **extra}
    with pytest.raises(ClientError) as info:
        parse(frame)
    assert info.value.code == "bad_request"
    assert says in info.value.message
    assert (info.value.channel_id, info.value.message_id) == (CID, "m")


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


T = 1_768_471_200_123
STAMP = "2026-01-15T10:00:00.123Z"


def test_encode_message_and_ack() -> None:
    msg = Message("c", 7, "m", "u", "name", None, None, "hi", "user", T)
    assert orjson.loads(frames.encode_message(msg)) == {
        "type": "message",
        "channel_id": "c",
        "seq": 7,
        "message_id": "m",
        "user_id": "u",
        "username": "name",
        "display_name": None,
        "avatar_url": None,
        "content": "hi",
        "timestamp": STAMP,
        "kind": "user",
        "parent_seq": None,
        "edited_at": None,
        "deleted": False,
        "reactions": [],
        "reply_count": 0,
        "last_reply_at": None,
    }
    ack = orjson.loads(frames.encode_ack(msg))
    assert ack == {
        "type": "ack",
        "channel_id": "c",
        "message_id": "m",
        "seq": 7,
        "timestamp": STAMP,
    }


def test_encode_message_in_its_current_state() -> None:
    msg = Message(
        "c", 9, "m", "u", "name", "Name", "http://a/b.png", "hi again", "user", T,
        parent_seq=None, edited_at=T + 1000, reply_count=2, last_reply_at=T + 61_000,
        reactions=(("👍", 3), ("🇫🇷", 1)),
    )  # fmt: skip
    body = orjson.loads(frames.encode_message(msg))
    assert {k: body[k] for k in ("content", "display_name", "avatar_url")} == {
        "content": "hi again",
        "display_name": "Name",
        "avatar_url": "http://a/b.png",
    }
    assert body["edited_at"] == "2026-01-15T10:00:01.123Z"
    assert body["last_reply_at"] == "2026-01-15T10:01:01.123Z"
    assert body["reactions"] == [{"emoji": "👍", "count": 3}, {"emoji": "🇫🇷", "count": 1}]
    assert (body["reply_count"], body["parent_seq"], body["deleted"]) == (2, None, False)
    assert frames.message_payload(msg) == body  # the REST shape is the same dict


def test_encode_reply_and_deleted_message() -> None:
    reply = Message("c", 10, "m2", "u", "name", None, None, "yes", "user", T, parent_seq=9)
    assert orjson.loads(frames.encode_message(reply))["parent_seq"] == 9
    gone = Message("c", 11, "m3", "u", "name", None, None, "", "user", T, deleted=True)
    body = orjson.loads(frames.encode_message(gone))
    assert (body["deleted"], body["content"]) == (True, "")


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


def test_read_frames() -> None:
    assert parse({"type": "read", "channel_id": "c", "seq": 7}) == frames.Read("c", 7)
    assert parse({"type": "read", "channel_id": "c", "seq": 0}) == frames.Read("c", 0)
    for bad in ({}, {"seq": -1}, {"seq": "7"}, {"seq": 7.0}, {"seq": True}, {"seq": 2**63}):
        with pytest.raises(ClientError) as err:
            parse({"type": "read", "channel_id": "c", **bad})
        assert err.value.code == "bad_request" and err.value.channel_id == "c", bad
    mark = ReadMark("c", "bob", 7, 1000, unread=3)
    assert orjson.loads(encode_read(mark)) == {
        "type": "read", "channel_id": "c", "user_id": "bob", "seq": 7, "unread": 3, "mentions": 0,
    }  # fmt: skip
    assert orjson.loads(encode_receipt(mark)) == {
        "type": "read", "channel_id": "c", "user_id": "bob", "seq": 7,
    }  # fmt: skip
    joined = orjson.loads(frames.encode_joined("c", 9, True, 7, 2))
    assert (joined["read_seq"], joined["unread"]) == (7, 2)
    assert orjson.loads(frames.encode_joined("c", 9, False))["read_seq"] is None
