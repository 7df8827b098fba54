"""The client-frame parser (RFC 6455 §5): what it accepts, and the close each
violation earns."""

from __future__ import annotations

import pytest

from tests.helpers.rawws import client_frame
from trichat.errors import BAD_UTF8, BINARY_FRAME, PROTOCOL_ERROR, TOO_BIG
from trichat.protocol.wsparse import (
    CLOSE,
    FAIL,
    NO_CODE,
    PING,
    PONG,
    TEXT,
    ClientFrames,
    unmask,
    valid_close_code,
)


def text(payload: bytes, **kw: object) -> bytes:
    return client_frame(0x1, payload, **kw)  # type: ignore[arg-type]


def close(payload: bytes) -> bytes:
    return client_frame(0x8, payload)


def fail_code(events: list[tuple[int, object]]) -> int:
    assert events[-1][0] == FAIL, events
    return events[-1][1].code  # type: ignore[attr-defined, no-any-return]


def test_unmask_round_trips_every_length() -> None:
    mask = b"\x01\x82\x43\xf4"
    for n in range(0, 70):
        payload = bytes(range(n))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert unmask(masked, mask) == payload


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 200_000])
def test_a_text_frame_of_each_length_encoding(size: int) -> None:
    payload = ("é" * (size // 2) + "x" * (size % 2)).encode()
    assert ClientFrames(1 << 20).feed(text(payload)) == [(TEXT, payload.decode())]


def test_several_frames_in_one_read_and_one_frame_over_many_reads() -> None:
    stream = text(b'{"a":1}') + client_frame(0x9, b"hi") + text(b"\xe2\x82\xac" * 50)
    parser = ClientFrames(1 << 20)
    assert parser.feed(stream) == [(TEXT, '{"a":1}'), (PING, b"hi"), (TEXT, "€" * 50)]
    byte_by_byte = ClientFrames(1 << 20)
    events = [e for i in range(len(stream)) for e in byte_by_byte.feed(stream[i : i + 1])]
    assert events == [(TEXT, '{"a":1}'), (PING, b"hi"), (TEXT, "€" * 50)]


def test_a_fragmented_message_with_a_control_frame_between_fragments() -> None:
    euro = "€".encode()  # split inside a character: UTF-8 is checked on the whole
    stream = (
        text(b"ab" + euro[:1], fin=False)
        + client_frame(0xA, b"pong")
        + client_frame(0x0, euro[1:], fin=False)
        + client_frame(0x0, b"cd")
    )
    assert ClientFrames(100).feed(stream) == [(PONG, b"pong"), (TEXT, "ab€cd")]


def test_close_codes_and_reasons() -> None:
    assert ClientFrames(100).feed(close(b"")) == [(CLOSE, NO_CODE)]
    assert ClientFrames(100).feed(close(b"\x03\xe8bye")) == [(CLOSE, 1000)]
    assert ClientFrames(100).feed(close(b"\x0f\xa1")) == [(CLOSE, 4001)]
    assert fail_code(ClientFrames(100).feed(close(b"\x03"))) == PROTOCOL_ERROR.code
    assert fail_code(ClientFrames(100).feed(close(b"\x03\xed"))) == PROTOCOL_ERROR.code  # 1005
    assert fail_code(ClientFrames(100).feed(close(b"\x03\xe8\xff"))) == BAD_UTF8.code
    assert [valid_close_code(c) for c in (999, 1000, 1004, 1011, 1015, 2999, 3000, 5000)] == [
        False,
        True,
        False,
        True,
        False,
        False,
        True,
        False,
    ]


def test_nothing_is_parsed_after_the_peer_closes() -> None:
    parser = ClientFrames(100)
    assert parser.feed(close(b"\x03\xe8") + text(b"late")) == [(CLOSE, 1000)]
    assert parser.feed(text(b"later")) == []


@pytest.mark.parametrize(
    "frame",
    [
        text(b"x", masked=False),
        text(b"x", rsv=0b100),
        client_frame(0x3, b"x"),
        client_frame(0xB, b"x"),
        client_frame(0x9, b"x" * 126),
        client_frame(0x9, b"x", fin=False),
        client_frame(0x0, b"x"),  # a continuation with nothing to continue
        text(b"a", fin=False) + text(b"b"),  # a new message inside a fragmented one
        # the order is checked before the binary and size rules (1002, not 1003/1009)
        text(b"a", fin=False) + client_frame(0x2, b"b"),
        client_frame(0x0, b"x" * 5000),
        text(b"a", fin=False) + text(b"x" * 5000),
    ],
    ids=[
        "unmasked",
        "rsv1",
        "opcode3",
        "opcode11",
        "long ping",
        "fragmented ping",
        "stray continuation",
        "text inside fragments",
        "binary inside fragments",
        "large stray continuation",
        "large text inside fragments",
    ],
)
def test_protocol_violations_close_1002_and_stop_the_parser(frame: bytes) -> None:
    parser = ClientFrames(1000)
    assert fail_code(parser.feed(frame)) == PROTOCOL_ERROR.code  # at once, from the frame alone
    assert parser.feed(text(b"more")) == []


def test_invalid_utf8_closes_1007_but_control_frames_still_parse() -> None:
    parser = ClientFrames(100)
    events = parser.feed(text(b"\xff\xfe") + text(b"dropped") + close(b"\x03\xe8"))
    assert events == [(FAIL, BAD_UTF8), (CLOSE, 1000)]


def test_a_binary_frame_closes_1003() -> None:
    events = ClientFrames(100).feed(client_frame(0x2, b"\x00\x01") + client_frame(0x9, b"p"))
    assert events == [(FAIL, BINARY_FRAME), (PING, b"p")]


def test_an_oversized_frame_is_refused_at_its_header_and_skipped() -> None:
    parser = ClientFrames(1000)
    frame = text(b"x" * 5000)
    # the header alone earns the 1009: the payload is never waited for nor kept
    assert parser.feed(frame[:10]) == [(FAIL, TOO_BIG)]
    assert parser.feed(frame[10:3000]) == []
    assert parser.feed(frame[3000:] + text(b"dropped") + close(b"\x03\xf1")) == [(CLOSE, 1009)]


def test_a_message_over_the_limit_in_fragments_closes_1009() -> None:
    parser = ClientFrames(1000)
    events = parser.feed(text(b"x" * 600, fin=False) + client_frame(0x0, b"x" * 600, fin=False))
    assert events == [(FAIL, TOO_BIG)]
    assert parser.feed(client_frame(0x0, b"x" * 600)) == []  # the rest of it: dropped
    assert ClientFrames(1200).feed(text(b"x" * 600, fin=False) + client_frame(0x0, b"y" * 600)) == [
        (TEXT, "x" * 600 + "y" * 600)
    ]
