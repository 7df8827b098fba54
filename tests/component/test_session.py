"""A `Session` over the fake transport, with a real service, store and hub: the
bytes a client feeds in, the frames it gets back, and how the connection ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import trio
import trio.testing

from tests.component.world import World, open_world
from tests.helpers.rawws import client_frame
from tests.helpers.transport import FakeTransport
from trichat.connection import Session


async def joined(world: World, user: str, **mint_args: Any) -> FakeTransport:
    """A serving session for `user` that joined the general channel."""
    _, wire = await world.serve(user, **mint_args)
    wire.send_json({"type": "join", "channel_id": world.general})
    with trio.fail_after(5):
        await wire.wait_for_text("joined")
    return wire


async def test_join_then_send_is_acked_and_delivered(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice = await joined(world, "alice")
        bob = await joined(world, "bob")
        first = alice.texts()[0]
        assert first == {
            "type": "joined",
            "channel_id": world.general,
            "last_seq": 0,
            "recovered": True,
            "read_seq": 0,
            "unread": 0,
        }
        alice.send_json(
            {"type": "message", "channel_id": world.general, "content": "hi", "message_id": "m1"}
        )
        with trio.fail_after(5):
            ack = await alice.wait_for_text("ack")
            got = await bob.wait_for_text("message")
        assert (ack["seq"], ack["message_id"]) == (1, "m1")
        assert (got["seq"], got["content"], got["user_id"]) == (1, "hi", "alice")
        assert world.count("websocket_messages_total", type="ack") == 1


async def test_bad_frame_gets_an_error_and_the_connection_stays(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        session, wire = await world.serve("alice")
        wire.send(0x1, b"{")
        with trio.fail_after(5):
            err = await wire.wait_for_text("error")
        assert err["code"] == "bad_request"
        assert world.count("websocket_messages_total", type="invalid") == 1
        wire.send_json({"type": "join", "channel_id": world.general})
        with trio.fail_after(5):
            await wire.wait_for_text("joined")
        assert not wire.closed and wire.close_code() is None
        assert world.general in session.joined


async def test_the_first_frames_may_come_with_the_request_head(tmp_path: Path) -> None:
    # bytes read with the head (the front door's `trailing`) are the reader's first
    async with open_world(tmp_path) as world:
        join = orjson.dumps({"type": "join", "channel_id": world.general})
        wire = FakeTransport()
        principal = world.deps.verifier.verify(world.token("alice"))
        session = Session(wire, principal, world.deps, trailing=client_frame(0x1, join))
        world.nursery.start_soon(session.serve)
        with trio.fail_after(5):
            assert (await wire.wait_for_text("joined"))["channel_id"] == world.general


async def test_close_frame_is_echoed_then_the_session_ends(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        wire = await joined(world, "alice")
        assert len(world.sessions.open) == 1
        wire.send(0x8, (4321).to_bytes(2, "big") + b"bye")
        with trio.fail_after(5):
            await wire.wait_closed()
        assert wire.close_code() == 4321
        assert wire.frames()[-1] == (0x8, (4321).to_bytes(2, "big"))
        assert world.sessions.open == {}
        assert world.deps.hub.channels_active in (0, 1)  # released; it may linger


async def test_close_without_a_code_is_answered_with_1000(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        _, wire = await world.serve("alice")
        wire.send(0x8, b"")
        with trio.fail_after(5):
            await wire.wait_closed()
        assert wire.close_code() == 1000


async def test_a_reserved_close_code_is_a_protocol_error(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        _, wire = await world.serve("alice")
        wire.send(0x8, (1005).to_bytes(2, "big"))
        with trio.fail_after(5):
            await wire.wait_for_frames(1)
        assert wire.close_code() == 1002
        assert world.count("websocket_errors_total", type="protocol_error") == 1


async def test_ping_is_ponged_and_eof_ends_the_session(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        _, wire = await world.serve("alice")
        wire.send(0x9, b"hello")
        with trio.fail_after(5):
            assert await wire.wait_for_frames(1) == [(0xA, b"hello")]
        wire.feed_eof()
        with trio.fail_after(5):
            await wire.wait_closed()
        assert world.sessions.open == {}
        assert wire.close_code() is None  # the peer is gone: nothing more was written


async def test_binary_frame_closes_1003(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        _, wire = await world.serve("alice")
        wire.send(0x2, b"\x00\x01")
        with trio.fail_after(5):
            await wire.wait_for_frames(1)
        assert wire.close_code() == 1003
        assert world.count("websocket_errors_total", type="binary_frame") == 1
        wire.send(0x8, (1000).to_bytes(2, "big"))  # the peer answers: no CLOSE_WAIT
        with trio.fail_after(5):
            await wire.wait_closed()


async def test_slow_consumer_is_closed_1013_and_others_are_not(tmp_path: Path) -> None:
    async with open_world(tmp_path, send_queue=8, rate_limit_per_minute=100_000) as world:
        slow = await joined(world, "slow")
        sender = await joined(world, "sender")
        slow.room = 0  # the slow client's kernel buffer is full from now on
        before = len(slow.frames())
        for k in range(20):
            sender.send_json({"type": "message", "channel_id": world.general, "content": f"{k}"})
        with trio.fail_after(10):
            while len([t for t in sender.texts() if t["type"] == "ack"]) < 20:
                await sender.wait_for_frames(len(sender.frames()) + 1)
        assert world.count("websocket_errors_total", type="slow_consumer") == 0
        assert len(slow.frames()) == before  # nothing got through
        slow.allow(None)  # it reads again: the queue was dropped, the close frame is out
        with trio.fail_after(5):
            await slow.wait_for_frames(before + 1)
        assert slow.frames()[before:] == [(0x8, (1013).to_bytes(2, "big") + b"slow consumer")]
        assert world.count("websocket_errors_total", type="slow_consumer") == 1
        slow.send(0x8, (1000).to_bytes(2, "big"))
        with trio.fail_after(5):
            await slow.wait_closed()
        assert not sender.closed and sender.close_code() is None
        assert [t["seq"] for t in sender.texts() if t["type"] == "message"] == list(range(1, 21))


async def test_a_broken_peer_ends_the_session(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        wire = await joined(world, "alice")
        wire.broken = True
        wire.room = 0  # the next write is queued, then the writer finds the peer gone
        other = await joined(world, "bob")
        other.send_json({"type": "message", "channel_id": world.general, "content": "x"})
        with trio.fail_after(5):
            await wire.wait_closed()
        assert len(world.sessions.open) == 1


def tasks_of(session: Session) -> int:
    """The session's writer tasks running (its nursery's children)."""
    assert session._nursery is not None
    return len(session._nursery.child_tasks)


async def test_a_writer_task_runs_only_while_there_is_a_backlog(tmp_path: Path) -> None:
    async with open_world(tmp_path, rate_limit_per_minute=100_000) as world:
        alice, wire = await world.serve("alice")
        wire.send_json({"type": "join", "channel_id": world.general})
        with trio.fail_after(5):
            await wire.wait_for_text("joined")
        await trio.testing.wait_all_tasks_blocked()
        assert tasks_of(alice) == 0  # written at once: no writer task
        wire.room = 5  # the kernel takes 5 bytes of the next frame, then nothing
        before = len(wire.written)
        wire.send_json({"type": "message", "channel_id": world.general, "content": "queued"})
        with trio.fail_after(5):
            await wire.wait_written(before + 5)  # stored, then 5 bytes of a frame out
        await trio.testing.wait_all_tasks_blocked()
        assert len(wire.written) == before + 5 and tasks_of(alice) == 1  # waiting to write
        wire.allow(None)
        with trio.fail_after(5):
            while not [t for t in wire.texts() if t["type"] == "ack"]:
                await wire.wait_for_frames(len(wire.frames()) + 1)
        await trio.testing.wait_all_tasks_blocked()
        assert tasks_of(alice) == 0  # all out: the writer ended, the session goes on
        wire.send_json({"type": "message", "channel_id": world.general, "content": "again"})
        with trio.fail_after(5):
            while len([t for t in wire.texts() if t["type"] == "ack"]) < 2:
                await wire.wait_for_frames(len(wire.frames()) + 1)
        assert not wire.closed
