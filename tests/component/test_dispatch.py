"""The dispatcher: client frames to `ChatService` calls and back to frames, driven
directly on a session over the fake transport (a real service, store and hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import trio
import trio.testing

from tests.component.world import open_world, wire
from tests.helpers.files import immutable
from trichat import errors
from trichat.connection import Session
from trichat.connection_deps import JOINS
from trichat.connection_dispatch import on_text

BROADCAST = {"presence", "typing"}  # come through the broker, in their own time


async def say(session: Session, **frame: Any) -> list[dict[str, Any]]:
    """Dispatch one frame; the text frames it produced, once answered (a message is
    answered from the store's writer task, after `on_text` returned), broadcasts
    left out."""
    fake = wire(session)
    before = len(fake.texts())
    with trio.fail_after(5):
        await on_text(session, orjson.dumps(frame).decode())
        await session.wait_answered()
    got = fake.texts()[before:]
    return [f for f in got if f["type"] not in BROADCAST]


async def released(session: Session, seq: int) -> None:
    """Wait until `session` got message `seq` live: the supervisor released it."""
    fake = wire(session)
    with trio.fail_after(5):
        while seq not in [f.get("seq") for f in fake.texts() if f["type"] == "message"]:
            await fake.wait_for_frames(len(fake.frames()) + 1)


async def test_sending_or_typing_before_joining_is_refused(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice = world.session("alice")
        cid = world.general
        [err] = await say(alice, type="message", channel_id=cid, content="x", message_id="m1")
        assert (err["type"], err["code"]) == ("error", "not_joined")
        assert (err["channel_id"], err["message_id"]) == (cid, "m1")
        [err] = await say(alice, type="typing", channel_id=cid)
        assert (err["code"], err["channel_id"]) == ("not_joined", cid)
        [err] = await say(alice, type="leave", channel_id=cid)
        assert err["code"] == "not_joined"
        assert world.count("websocket_errors_total", type="not_joined") == 3


async def test_joining_an_unknown_channel_is_not_found(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice = world.session("alice")
        cid = "0b6f7c0e-0000-4000-8000-000000000000"
        [err] = await say(alice, type="join", channel_id=cid)
        assert (err["code"], err["channel_id"]) == ("not_found", cid)
        assert alice.joined == {} and world.deps.hub.channels_active == 0


async def test_join_send_typing_leave(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice, cid = world.session("alice"), world.general
        [joined] = await say(alice, type="join", channel_id=cid)
        assert joined == {
            "type": "joined",
            "channel_id": cid,
            "last_seq": 0,
            "recovered": True,
            "read_seq": 0,  # a first join starts the marker at the channel's end
            "unread": 0,
        }
        with trio.fail_after(5):
            presence = await wire(alice).wait_for_text("presence")
        assert (presence["user_id"], presence["presence_type"]) == ("alice", "joined")
        got = await say(alice, type="message", channel_id=cid, content="hi", message_id="m1")
        acks = [(f["seq"], f["message_id"]) for f in got if f["type"] == "ack"]
        assert acks == [(1, "m1")]  # the message itself comes back through the broker
        with trio.fail_after(5):
            echoed = await wire(alice).wait_for_text("message")
        assert (echoed["seq"], echoed["content"]) == (1, "hi")
        assert [f for f in await say(alice, type="typing", channel_id=cid) if "code" in f] == []
        assert await say(alice, type="leave", channel_id=cid) == [
            {"type": "left", "channel_id": cid}
        ]
        assert alice.joined == {}
        counted = {k: world.count("websocket_messages_total", type=k) for k in ("join", "ack")}
        assert counted == {"join": 1, "ack": 1}


async def test_the_ack_and_the_senders_own_copy_leave_in_one_write(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice, cid = world.session("alice"), world.general
        await say(alice, type="join", channel_id=cid)
        fake = wire(alice)
        with trio.fail_after(5):
            await fake.wait_for_text("presence")
        await trio.testing.wait_all_tasks_blocked()
        before, frames_before = fake.writes, len(fake.frames())
        await say(alice, type="message", channel_id=cid, content="hi", message_id="m1")
        got = fake.texts()[frames_before:]
        assert [(f["type"], f["seq"]) for f in got] == [("ack", 1), ("message", 1)]
        assert fake.writes == before + 1
        # a repeated message_id is acked again, alone, and publishes nothing
        await say(alice, type="message", channel_id=cid, content="hi", message_id="m1")
        assert [f["type"] for f in fake.texts()[frames_before + 2 :]] == ["ack"]
        assert fake.writes == before + 2


async def test_messages_pipeline_and_other_frames_wait_for_their_acks(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice, cid = world.session("alice"), world.general
        await say(alice, type="join", channel_id=cid)
        fake = wire(alice)
        before = len(fake.texts())
        for n in (1, 2):  # queued for the store; the reader does not wait for either
            await on_text(alice, orjson.dumps(message(cid, f"m{n}")).decode())
        assert alice.unanswered == 2 and not [f for f in fake.texts()[before:] if "seq" in f]
        # a bad frame's error and a leave wait until both are answered
        await on_text(alice, "{not json")
        await on_text(alice, orjson.dumps({"type": "leave", "channel_id": cid}).decode())
        got = [(f["type"], f.get("seq")) for f in fake.texts()[before:]]
        got = [g for g in got if g[0] in ("ack", "message", "error", "left")]
        assert got == [
            ("ack", 1),
            ("message", 1),
            ("ack", 2),
            ("message", 2),
            ("error", None),
            ("left", None),
        ]
        assert world.sessions.inflight == 0


async def test_a_store_that_fails_the_commit_answers_unavailable(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice, cid = world.session("alice"), world.general
        await say(alice, type="join", channel_id=cid)
        with immutable(Path(f"{world.store.path}-wal")):
            [err] = await say(alice, **message(cid, "m1"))
        assert (err["code"], err["message_id"]) == ("unavailable", "m1")
        assert world.count("websocket_errors_total", type="unavailable") == 1
        ack, echo = await say(alice, **message(cid, "m1"))  # resent once the disk is back
        assert (ack["type"], ack["seq"], echo["type"], echo["seq"]) == ("ack", 1, "message", 1)
        world.store._writer.close()  # a store shutting down refuses before queueing
        [err] = await say(alice, **message(cid, "m2"))
        assert (err["code"], err["message_id"]) == ("unavailable", "m2")
        assert alice.unanswered == 0 and world.sessions.inflight == 0


def message(cid: str, message_id: str) -> dict[str, Any]:
    return {"type": "message", "channel_id": cid, "content": "hi", "message_id": message_id}


async def test_join_with_since_sends_joined_then_what_was_missed_then_live(
    tmp_path: Path,
) -> None:
    async with open_world(tmp_path, rate_limit_per_minute=100_000) as world:
        alice, bob, cid = world.session("alice"), world.session("bob"), world.general
        await say(alice, type="join", channel_id=cid)
        for k in range(1, 6):
            await say(alice, type="message", channel_id=cid, content=f"t{k}")
        await released(alice, 5)
        got = await say(bob, type="join", channel_id=cid, since=2)
        assert got[0] == {
            "type": "joined",
            "channel_id": cid,
            "last_seq": 5,
            "recovered": True,
            "read_seq": 5,  # bob's first join: his marker starts at the end
            "unread": 0,
        }
        assert [(f["type"], f["seq"], f["content"]) for f in got[1:]] == [
            ("message", 3, "t3"),
            ("message", 4, "t4"),
            ("message", 5, "t5"),
        ]
        await say(alice, type="message", channel_id=cid, content="t6")
        await released(bob, 6)
        seqs = [f["seq"] for f in wire(bob).texts() if f["type"] == "message"]
        assert seqs == [3, 4, 5, 6]  # no gap, no duplicate
        # joining again from where it is: nothing to replay, presence untouched
        again = await say(bob, type="join", channel_id=cid, since=6)
        assert again == [
            {
                "type": "joined",
                "channel_id": cid,
                "last_seq": 6,
                "recovered": True,
                "read_seq": 5,  # joining again moves no marker: only `read` does
                "unread": 1,
            }
        ]
        assert list(bob.joined) == [cid]


async def test_join_without_since_gets_the_last_messages(tmp_path: Path) -> None:
    async with open_world(tmp_path, history_on_join=2, recover_max=3) as world:
        alice, bob, cid = world.session("alice"), world.session("bob"), world.general
        await say(alice, type="join", channel_id=cid)
        for k in range(1, 6):
            await say(alice, type="message", channel_id=cid, content=f"t{k}")
        await released(alice, 5)
        got = await say(bob, type="join", channel_id=cid)
        assert got[0]["recovered"] is True and got[0]["last_seq"] == 5
        assert [f["seq"] for f in got[1:]] == [4, 5]
        # a `since` further back than RECOVER_MAX: not recovered, the last N instead
        carol = world.session("carol")
        got = await say(carol, type="join", channel_id=cid, since=1)
        assert got[0]["recovered"] is False
        assert [f["seq"] for f in got[1:]] == [4, 5]


async def test_refresh(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice = world.session("alice")
        [err] = await say(alice, type="refresh", token="garbage")
        assert err["code"] == "unauthorized"
        [err] = await say(alice, type="refresh", token=world.token("mallory"))
        assert err["code"] == "bad_request"
        assert alice.principal.user_id == "alice"
        fresh = world.token("alice", ttl=7200)
        [ok] = await say(alice, type="refresh", token=fresh)
        assert ok == {"type": "refreshed", "exp": alice.principal.exp}
        assert world.deps.verifier.verify(fresh).exp == alice.principal.exp


async def test_nothing_is_taken_while_draining_or_closing(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice, cid = world.session("alice"), world.general
        world.sessions.draining = True
        assert await say(alice, type="join", channel_id=cid) == []
        world.sessions.draining = False
        alice.close(errors.SHUTDOWN)
        assert await say(alice, type="join", channel_id=cid) == []
        assert alice.joined == {} and world.sessions.inflight == 0


async def test_in_flight_frames_are_counted_for_the_drain(tmp_path: Path) -> None:
    async with open_world(tmp_path) as world:
        alice = world.session("alice")
        world.sessions.idle = trio.Event()
        await say(alice, type="join", channel_id=world.general)
        assert world.sessions.inflight == 0 and world.sessions.idle.is_set()


async def join(session: Session, channel_id: str) -> None:
    [joined] = await say(session, type="join", channel_id=channel_id)
    assert joined["type"] == "joined"


async def test_a_storm_of_joins_is_checked_a_few_at_a_time_and_all_join(
    tmp_path: Path,
) -> None:
    """Every client of a restarted instance joining at once: at most `JOINS` are
    being checked against the store at any moment (the rest wait their turn rather
    than queue in the store's pool past its deadlines), and every one joins."""
    async with open_world(tmp_path) as world:
        service, running, peak = world.deps.service, [0], [0]
        check_join = service.check_join

        async def counted(*args: Any) -> Any:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            try:
                await trio.sleep(0.01)  # a store under load: the checks overlap
                return await check_join(*args)
            finally:
                running[0] -= 1

        service.check_join = counted  # type: ignore[method-assign]
        sessions = [world.session(f"u{i}") for i in range(JOINS * 3)]
        async with trio.open_nursery() as nursery:
            for session in sessions:
                nursery.start_soon(join, session, world.general)
        assert peak[0] == JOINS
        assert all(world.general in s.joined for s in sessions)
