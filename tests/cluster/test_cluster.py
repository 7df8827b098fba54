"""Three trichat processes over one Redis and one PostgreSQL: SPEC §3 across
instances, and through an instance crash, a Redis restart and a PostgreSQL outage."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import trio
from trio_websocket import ConnectionClosed

from tests.cluster.conftest import Cluster
from tests.helpers.client import Ws, http, poll_health, ws_connect
from tests.helpers.process import TrichatProcess

API = "/api/v1/chat"


async def connect(stack: AsyncExitStack, node: TrichatProcess, user: str, **claims: Any) -> Ws:
    return await stack.enter_async_context(ws_connect(node.ws_url(user, **claims)))


async def send_all(ws: Ws, channel: str, name: str, n: int) -> dict[str, int]:
    """Send `n` messages one after another; their acked seqs by message_id."""
    acked = {}
    for k in range(n):
        ack = await ws.say(channel, f"{name} {k}", message_id=f"{name}-{k}")
        acked[ack["message_id"]] = ack["seq"]
    return acked


def assert_gap_free(messages: list[dict[str, Any]], acked: dict[str, int]) -> None:
    """One total order, no gaps, no duplicates, every acked message at its seq."""
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    at = {m["message_id"]: m["seq"] for m in messages}
    assert len(at) == len(messages)
    missing = {mid: seq for mid, seq in acked.items() if at.get(mid) != seq}
    assert not missing, f"acked but not delivered at their seq: {missing}"


async def test_one_gap_free_order_on_every_instance(cluster: Cluster) -> None:
    nodes = await cluster.start(3)
    general = nodes[0].general
    per_client = 40
    async with AsyncExitStack() as stack:
        clients = [
            (f"{node.proc.pid}-{i}", await connect(stack, node, f"user{n}{i}"))
            for n, node in enumerate(nodes)
            for i in range(2)
        ]
        for _, ws in clients:
            await ws.join(general)
        acked: dict[str, int] = {}

        async def sender(name: str, ws: Ws) -> None:
            acked.update(await send_all(ws, general, name, per_client))

        async with trio.open_nursery() as nursery:  # six senders, three instances, at once
            for name, ws in clients:
                nursery.start_soon(sender, name, ws)
        total = per_client * len(clients)
        assert sorted(acked.values()) == list(range(1, total + 1))
        orders = []
        for _, ws in clients:
            got = await ws.messages(total, channel_id=general)
            assert_gap_free(got, acked)
            orders.append([m["message_id"] for m in got])
        assert all(order == orders[0] for order in orders)  # the same order everywhere


async def test_presence_bans_and_rate_limits_are_cluster_wide(cluster: Cluster) -> None:
    a, b, c = await cluster.start(3, TRICHAT_RATE_LIMIT_PER_MINUTE="6")
    general = a.general
    async with AsyncExitStack() as stack:
        alice = await connect(stack, a, "alice")
        bob = await connect(stack, b, "bob")
        await alice.join(general)
        await bob.join(general)
        await alice.expect("presence", user_id="bob", presence_type="joined")
        carol = await connect(stack, c, "carol")
        await carol.join(general)
        await alice.expect("presence", user_id="carol", presence_type="joined")
        await bob.expect("presence", user_id="carol", presence_type="joined")
        second_tab = await connect(stack, a, "carol")
        await second_tab.join(general)  # carol again, elsewhere: no second 'joined'
        presence = f"{API}/channels/{general}/presence"
        listed = await http(c.port, "GET", presence, token=c.token("x"))
        assert sorted(u["user_id"] for u in listed.json()["users"]) == ["alice", "bob", "carol"]

        # one bucket for carol across her connections on two instances
        for k in range(3):
            await carol.say(general, f"c{k}")
            await second_tab.say(general, f"t{k}")
        await second_tab.send(type="message", channel_id=general, content="one too many")
        refused = await second_tab.expect("error")
        assert refused["code"] == "rate_limited" and refused["retry_after"] > 0

        # banned on instance a: bob, on b, leaves at once and cannot come back via c
        admin = a.token("admin", admin=True)
        ban = f"{API}/channels/{general}/bans/bob"
        banned = await http(a.port, "PUT", ban, token=admin, body={"reason": "spam"})
        assert banned.status == 200
        assert (await bob.expect("left", channel_id=general))["reason"] == "banned"
        await alice.expect("presence", user_id="bob", presence_type="left")
        bob_again = await connect(stack, c, "bob")
        await bob_again.send(type="join", channel_id=general)
        assert (await bob_again.expect("error"))["code"] == "forbidden"


async def test_kill_9_loses_no_acked_message(cluster: Cluster) -> None:
    a, b, c = await cluster.start(3)
    general = a.general
    acked: dict[str, int] = {}
    killed = trio.Event()
    async with AsyncExitStack() as stack:
        watcher = await connect(stack, c, "watcher")
        await watcher.join(general)
        lurker = await connect(stack, a, "lurker")  # only on a: its presence must end
        await lurker.join(general)
        await watcher.expect("presence", user_id="lurker", presence_type="joined")

        async def sender(name: str) -> None:
            """Send until a dies, then resume on b as a client would: rejoin with
            `since`, resend the unacked message (same id), go on."""
            seen = 0
            pending: str | None = None
            k = 0
            try:
                async with ws_connect(a.ws_url(name)) as ws:
                    seen = (await ws.join(general))["last_seq"]
                    while True:
                        pending = f"{name}-{k}"
                        ack = await ws.say(general, pending, message_id=pending)
                        acked[pending], pending, k = ack["seq"], None, k + 1
                        if len(acked) >= 60:
                            killed_soon.set()
            except ConnectionClosed:
                pass
            await killed.wait()
            async with ws_connect(b.ws_url(name)) as ws:
                await ws.join(general, since=seen)
                if pending is not None:
                    ack = await ws.say(general, "resent", message_id=pending)
                    acked[pending] = ack["seq"]  # the first one's seq if it was stored
                acked.update(await send_all(ws, general, f"{name}-after", 5))

        killed_soon = trio.Event()
        async with trio.open_nursery() as nursery:
            for name in ("s1", "s2", "s3"):
                nursery.start_soon(sender, name)
            await killed_soon.wait()
            await trio.to_thread.run_sync(a.kill)  # mid-stream: sends in flight
            killed.set()
        # the lurker's instance died without a goodbye: its presence ends anyway
        with trio.fail_after(10):
            await watcher.expect("presence", user_id="lurker", presence_type="left")
        last = max(acked.values())
        got = [await watcher.expect("message") for _ in range(last)]
        assert_gap_free(got, acked)
        assert got[0]["seq"] == 1


async def test_redis_restart_mid_stream_heals(cluster: Cluster) -> None:
    a, b, c = await cluster.start(3)
    general = a.general
    acked: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        watcher = await connect(stack, c, "watcher")
        await watcher.join(general)
        senders = [await connect(stack, node, f"s{i}") for i, node in enumerate((a, b))]
        for ws in senders:
            await ws.join(general)
        for round_ in ("before", "during", "after"):
            if round_ == "during":
                cluster.redis.stop()
                await poll_health(a.port, lambda h: h["status"] == "degraded")
            if round_ == "after":
                cluster.redis.start()
            async with trio.open_nursery() as nursery:
                for i, ws in enumerate(senders):
                    nursery.start_soon(_send_into, acked, ws, general, f"{round_}{i}", 15)
        got = [await watcher.expect("message") for _ in range(len(acked))]
        assert_gap_free(got, acked)
        for node in (a, b, c):
            await poll_health(node.port, lambda h: h["status"] == "ok" and h["broker"] == "ok")


async def _send_into(acked: dict[str, int], ws: Ws, channel: str, name: str, n: int) -> None:
    acked.update(await send_all(ws, channel, name, n))


async def test_postgres_outage_refuses_instead_of_losing(cluster: Cluster) -> None:
    a, b = await cluster.start(2)
    general = a.general
    async with AsyncExitStack() as stack:
        alice = await connect(stack, a, "alice")
        bob = await connect(stack, b, "bob")
        await alice.join(general)
        await bob.join(general)
        before = await alice.say(general, "before", message_id="m-before")
        await trio.to_thread.run_sync(cluster.pg.stop)
        try:
            await alice.send(type="message", channel_id=general, content="x", message_id="m-x")
            refused = await alice.expect("error", message_id="m-x")
            assert refused["code"] == "unavailable"
            health = await http(b.port, "GET", f"{API}/health")
            assert health.status == 503 and health.json()["store"] == "down"
            listed = await http(b.port, "GET", f"{API}/channels", token=b.token("bob"))
            assert listed.status == 503
        finally:
            await trio.to_thread.run_sync(cluster.pg.start)
        # the same connections carry on once PostgreSQL is back
        await poll_health(b.port, lambda h: h["store"] == "ok")
        again = await alice.say(general, "x", message_id="m-x")
        assert again["seq"] == before["seq"] + 1  # nothing was stored while it was down
        got = await bob.expect("message", message_id="m-x")
        assert got["seq"] == again["seq"]
        messages = f"{API}/channels/{general}/messages"
        history = await http(b.port, "GET", messages, token=b.token("bob"))
        assert [m["message_id"] for m in history.json()["messages"]] == ["m-before", "m-x"]
