"""Pings, the pong timeout and token expiry on injected clocks: trio's `MockClock`
(running at real speed, jumped by the test) and a wall clock that moves with it,
so a token expires without the test waiting for it."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from tests.component.world import open_world, wall_clock_on_trio_time


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(rate=1.0)


async def test_expiry_closes_4001_after_refresh_needed(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, clock=wall_clock_on_trio_time()) as world:
        session, wire = await world.serve("alice", ttl=20)
        with trio.fail_after(5):
            needed = await wire.wait_for_text("refresh_needed")  # < 30 s left from the start
        assert needed == {"type": "refresh_needed", "exp": session.principal.exp}
        clock.jump(10)
        await trio.testing.wait_all_tasks_blocked()
        assert wire.close_code() is None  # not yet, and warned once only
        assert [t["type"] for t in wire.texts()] == ["refresh_needed"]
        clock.jump(11)  # past the token's expiry
        with trio.fail_after(5):
            await wire.wait_for_frames(2)
        assert wire.close_code() == 4001
        wire.send(0x8, (4001).to_bytes(2, "big"))
        with trio.fail_after(5):
            await wire.wait_closed()


async def test_refresh_keeps_an_expiring_connection_open(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, clock=wall_clock_on_trio_time()) as world:
        session, wire = await world.serve("alice", ttl=20)
        with trio.fail_after(5):
            await wire.wait_for_text("refresh_needed")
        wire.send_json({"type": "refresh", "token": world.token("alice", ttl=3600)})
        with trio.fail_after(5):
            refreshed = await wire.wait_for_text("refreshed")
        assert refreshed["exp"] == session.principal.exp
        wire.send_json({"type": "join", "channel_id": world.general})
        with trio.fail_after(5):
            await wire.wait_for_text("joined")
        clock.jump(25)  # past the first token's expiry
        wire.send_json({"type": "message", "channel_id": world.general, "content": "still in"})
        with trio.fail_after(5):
            ack = await wire.wait_for_text("ack")
        assert ack["seq"] == 1
        assert wire.close_code() is None
        assert [t["type"] for t in wire.texts()].count("refresh_needed") == 1


async def test_a_peer_that_never_pongs_is_dropped_one_that_does_stays(
    tmp_path: Path, clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, ping_interval=10.0, pong_timeout=25.0) as world:
        _, silent = await world.serve("silent")
        _, polite = await world.serve("polite")
        for k in range(1, 4):
            clock.jump(10)
            with trio.fail_after(5):
                pings = await polite.wait_for_frames(k)
            assert pings[-1] == (0x9, b"trichat")
            polite.send(0xA, b"trichat")
            await trio.testing.wait_all_tasks_blocked()
        with trio.fail_after(5):
            await silent.wait_closed()  # 30 s without a pong: more than PONG_TIMEOUT
        assert [op for op, _ in silent.frames()] == [0x9, 0x9]  # pinged, never closed politely
        assert world.count("websocket_errors_total", type="pong_timeout") == 1
        assert not polite.closed and len(world.sessions.open) == 1
