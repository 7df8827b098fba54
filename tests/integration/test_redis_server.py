"""Two trichat servers sharing Redis and PostgreSQL (in this process; the separate
process cluster is tests/cluster): chat, presence and health across instances, and
a Redis outage that degrades without losing a message."""

from __future__ import annotations

import itertools

import trio

from tests.conftest import Running, StartServer
from tests.helpers.client import http, poll_health, ws_connect
from tests.helpers.pg import PostgresServer
from tests.helpers.redis import RedisServer

_n = itertools.count()


async def _pair(
    start_server: StartServer, pg: PostgresServer, redis: RedisServer
) -> tuple[Running, Running]:
    name = f"redis_pair_{next(_n)}"
    await trio.to_thread.run_sync(pg.psql, f"CREATE DATABASE {name}")
    common = {"database_url": pg.dsn(name), "redis_url": redis.url}
    a = await start_server(instance_id="a", **common)
    b = await start_server(instance_id="b", **common)
    assert a.general == b.general
    return a, b


async def _health(server: Running) -> dict[str, object]:
    response = await http(server.port, "GET", "/api/v1/chat/health")
    assert response.status == 200
    return response.json()  # type: ignore[no-any-return]


async def test_chat_and_presence_across_instances(
    start_server: StartServer, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    a, b = await _pair(start_server, postgres_server, redis_server)
    general = a.general
    async with ws_connect(a.ws_url("alice")) as alice, ws_connect(b.ws_url("bob")) as bob:
        await bob.join(general)
        await alice.join(general)
        await bob.expect("presence", user_id="alice", presence_type="joined")
        ack = await alice.say(general, "hello from a")
        got = await bob.expect("message", seq=ack["seq"])
        assert got["content"] == "hello from a"
        await bob.say(general, "hello from b")
        assert (await alice.expect("message", user_id="bob"))["content"] == "hello from b"
        token = a.token("alice")
        presence = await http(
            b.port, "GET", f"/api/v1/chat/channels/{general}/presence", token=token
        )
        assert sorted(u["user_id"] for u in presence.json()["users"]) == ["alice", "bob"]
    for server, instance in ((a, "a"), (b, "b")):
        health = await _health(server)
        assert (health["status"], health["broker"], health["instance"]) == ("ok", "ok", instance)


async def test_redis_outage_degrades_and_heals_without_loss(
    start_server: StartServer, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    a, b = await _pair(start_server, postgres_server, redis_server)
    general = a.general
    async with (
        ws_connect(a.ws_url("alice")) as alice,
        ws_connect(a.ws_url("carol")) as carol,
        ws_connect(b.ws_url("bob")) as bob,
    ):
        for ws in (alice, carol, bob):
            await ws.join(general)
        first = await alice.say(general, "before")
        await bob.expect("message", seq=first["seq"])
        redis_server.stop()
        await poll_health(a.port, lambda h: h["broker"] == "down")
        assert (await _health(a))["status"] == "degraded"
        acks = [await alice.say(general, f"during {k}") for k in range(3)]
        # alice's own instance keeps delivering to its members
        assert [m["seq"] for m in await carol.messages(4)] == [first["seq"]] + [
            ack["seq"] for ack in acks
        ]
        redis_server.start()
        # bob (on b) gets what he missed, in order, once Redis is back
        got = [await bob.expect("message") for _ in range(3)]
        assert [m["content"] for m in got] == ["during 0", "during 1", "during 2"]
        await poll_health(a.port, lambda h: h["status"] == "ok")
        last = await bob.say(general, "after")
        assert (await alice.expect("message", seq=last["seq"]))["content"] == "after"
