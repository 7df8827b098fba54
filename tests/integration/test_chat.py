"""Two or more real clients chatting through a real server over loopback."""

from __future__ import annotations

import trio

from tests.conftest import Running, StartServer
from tests.helpers.client import http, ws_connect


async def test_two_members_chat(server: Running) -> None:
    async with (
        ws_connect(server.ws_url("alice")) as alice,
        ws_connect(server.ws_url("bob", username="Bobby")) as bob,
    ):
        joined = await alice.join(server.general)
        assert joined == {
            "type": "joined",
            "channel_id": server.general,
            "last_seq": 0,
            "recovered": True,
            "read_seq": 0,
            "unread": 0,
        }
        await bob.join(server.general)
        await alice.expect("presence", user_id="bob", presence_type="joined")

        await bob.send(
            type="message", channel_id=server.general, content="hi alice", message_id="b-1"
        )
        ack = await bob.expect("ack")
        assert ack["seq"] == 1 and ack["message_id"] == "b-1"
        assert ack["timestamp"].endswith("Z") and len(ack["timestamp"]) == 24

        got = await alice.expect("message")
        assert got["content"] == "hi alice"
        assert got["user_id"] == "bob" and got["username"] == "Bobby"
        assert got["seq"] == 1 and got["kind"] == "user" and got["timestamp"] == ack["timestamp"]
        echo = await bob.expect("message")  # the sender gets its own message too
        assert echo == got


async def test_concurrent_senders_one_order(server: Running) -> None:
    per_sender, senders = 15, 4
    total = per_sender * senders
    async with ws_connect(server.ws_url("watcher")) as watcher:
        await watcher.join(server.general)

        async def sender(i: int) -> None:
            async with ws_connect(server.ws_url(f"sender{i}")) as ws:
                await ws.join(server.general)
                for k in range(per_sender):
                    await ws.send(
                        type="message",
                        channel_id=server.general,
                        content=f"{i}:{k}",
                        message_id=f"{i}-{k}",
                    )
                acks = 0
                while acks < per_sender:
                    if (await ws.recv())["type"] == "ack":
                        acks += 1

        async with trio.open_nursery() as nursery:
            for i in range(senders):
                nursery.start_soon(sender, i)
        got = await watcher.messages(total)
    assert [m["seq"] for m in got] == list(range(1, total + 1))
    for i in range(senders):  # each sender's messages keep their own order
        mine = [m["content"] for m in got if m["user_id"] == f"sender{i}"]
        assert mine == [f"{i}:{k}" for k in range(per_sender)]


async def test_resume_with_since_gets_exactly_the_missed(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        for k in range(5):
            await alice.say(server.general, f"m{k}")
    async with ws_connect(server.ws_url("alice")) as alice:
        joined = await alice.join(server.general, since=2)
        assert joined["last_seq"] == 5 and joined["recovered"] is True
        missed = await alice.messages(3)
        assert [m["seq"] for m in missed] == [3, 4, 5]
        await alice.say(server.general, "live")
        live = await alice.messages(1)
        assert live[0]["seq"] == 6


async def test_join_without_since_gets_recent_history(start_server: StartServer) -> None:
    server = await start_server(history_on_join=3)
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        for k in range(5):
            await alice.say(server.general, f"m{k}")
    async with ws_connect(server.ws_url("bob")) as bob:
        await bob.join(server.general)
        history = await bob.messages(3)
        assert [m["content"] for m in history] == ["m2", "m3", "m4"]


async def test_too_many_missed_is_not_recovered(start_server: StartServer) -> None:
    server = await start_server(recover_max=3, history_on_join=2, rate_limit_per_minute=100)
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        for k in range(6):
            await alice.say(server.general, f"m{k}")
    async with ws_connect(server.ws_url("alice")) as alice:
        joined = await alice.join(server.general, since=1)
        assert joined["recovered"] is False and joined["last_seq"] == 6
        recent = await alice.messages(2)
        assert [m["seq"] for m in recent] == [5, 6]


async def test_idempotent_resend_returns_first_ack(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(server.general)
        await bob.join(server.general)
        first = await alice.say(server.general, "once", message_id="same")
        again = await alice.say(server.general, "once", message_id="same")
        assert again == first
        await alice.say(server.general, "next")
        got = await bob.messages(2)
        assert [m["content"] for m in got] == ["once", "next"]
        assert [m["seq"] for m in got] == [1, 2]


async def test_messages_survive_restart(start_server: StartServer, tmp_path) -> None:
    data = tmp_path / "keep"
    first = await start_server(data_dir=data)
    async with ws_connect(first.ws_url("alice")) as alice:
        await alice.join(first.general)
        await alice.say(first.general, "before restart")
    general = first.general
    await first.stop()

    second = await start_server(data_dir=data)
    assert second.general == general
    async with ws_connect(second.ws_url("bob")) as bob:
        joined = await bob.join(general, since=0)
        assert joined["last_seq"] == 1
        (old,) = await bob.messages(1)
        assert old["content"] == "before restart"
        ack = await bob.say(general, "after restart")
        assert ack["seq"] == 2


async def test_typing_reaches_others_not_self_and_is_throttled(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice, ws_connect(server.ws_url("bob")) as bob:
        await alice.join(server.general)
        await bob.join(server.general)
        await alice.expect("presence", user_id="bob")
        for _ in range(3):
            await bob.send(type="typing", channel_id=server.general)
        await bob.say(server.general, "marker")
        await alice.expect("message", content="marker")
        typing = [f for f in alice.seen if f["type"] == "typing"]
        assert typing == [
            {"type": "typing", "channel_id": server.general, "user_id": "bob", "username": "bob"}
        ]
        await bob.expect("message", content="marker")
        assert not [f for f in bob.seen if f["type"] == "typing"]


async def test_presence_events_and_rest(server: Running) -> None:
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        async with ws_connect(server.ws_url("bob")) as bob:
            await bob.join(server.general)
            await alice.expect("presence", user_id="bob", presence_type="joined")
            resp = await http(
                server.port,
                "GET",
                f"/api/v1/chat/channels/{server.general}/presence",
                token=server.token("alice"),
            )
            users = sorted(u["user_id"] for u in resp.json()["users"])
            assert users == ["alice", "bob"]
            async with ws_connect(server.ws_url("bob")) as bob2:  # second connection
                await bob2.join(server.general)
                await bob2.send(type="leave", channel_id=server.general)
                await bob2.expect("left", channel_id=server.general)
        left = await alice.expect("presence", user_id="bob")
        assert left["presence_type"] == "left"  # only when bob's last connection went
        assert [
            f["presence_type"]
            for f in alice.seen
            if f["type"] == "presence" and f["user_id"] == "bob"
        ] == ["joined", "left"]


async def test_multiplexed_connection_gets_each_channel(server: Running) -> None:
    token = server.token("alice")
    resp = await http(
        server.port, "POST", "/api/v1/chat/channels", token=token, body={"name": "second"}
    )
    second = resp.json()["id"]
    async with ws_connect(server.ws_url("alice")) as alice:
        await alice.join(server.general)
        await alice.join(second)
        await alice.say(second, "in second")
        await alice.say(server.general, "in general")
        got = await alice.messages(2)
        assert {(m["channel_id"], m["seq"]) for m in got} == {(second, 1), (server.general, 1)}
        await alice.send(type="leave", channel_id=second)
        await alice.expect("left", channel_id=second)
        await alice.send(type="message", channel_id=second, content="x")
        err = await alice.expect("error")
        assert err["code"] == "not_joined" and err["channel_id"] == second


async def test_single_channel_endpoint_joins_at_once(server: Running) -> None:
    url = server.ws_url("alice", path=f"/api/v1/chat/channels/{server.general}/ws")
    async with ws_connect(url) as alice:
        joined = await alice.expect("joined")
        assert joined["channel_id"] == server.general
        ack = await alice.say(server.general, "hello")
        assert ack["seq"] == 1
