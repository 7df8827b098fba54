"""The broker's own PubSub connection (`redis_pubsub`) against a real redis-server:
subscribing, bursts read whole, password and unix-socket URLs, a wrong password, and
Redis going away; and the broker over a password-protected Redis, on the URL's
database, and over TLS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, aclosing
from pathlib import Path
from typing import Any

import pytest
import redis
import trio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from tests.component.backends import FAST
from tests.helpers.redis import RedisServer
from trichat import aio
from trichat.broker.base import MESSAGE, Event
from trichat.broker.redis import RedisBackends, open_redis
from trichat.broker.redis_pubsub import PubSubConnection


async def replies(conn: PubSubConnection, count: int) -> list[Any]:
    got: list[Any] = []
    with trio.fail_after(5):
        while len(got) < count:
            got += await conn.receive()
    return got


async def subscribed(url: str, *channels: str) -> PubSubConnection:
    with trio.fail_after(5):
        conn = await PubSubConnection.open(url)
    await conn.subscribe(*channels)
    confirmations = await replies(conn, len(channels))
    assert [r[0] for r in confirmations] == [b"subscribe"] * len(channels)
    return conn


async def test_a_burst_of_events_arrives_whole_and_in_order(redis_server: RedisServer) -> None:
    conn = await subscribed(redis_server.url, "a", "b")
    client = redis.Redis.from_url(redis_server.url)
    with client.pipeline(transaction=False) as pipe:
        for i in range(2000):
            pipe.publish("a" if i % 2 else "b", b"x" * 200 + b"%d" % i)
        pipe.execute()
    got = await replies(conn, 2000)
    assert [r[0] for r in got] == [b"message"] * 2000
    assert [r[2].removeprefix(b"x" * 200) for r in got] == [b"%d" % i for i in range(2000)]
    assert {r[1] for r in got} == {b"a", b"b"}
    await conn.unsubscribe("a")
    assert (await replies(conn, 1))[0][:2] == [b"unsubscribe", b"a"]
    await conn.aclose()
    client.close()


async def test_a_killed_redis_is_a_connection_error(redis_server: RedisServer) -> None:
    conn = await subscribed(redis_server.url, "a")
    redis_server.stop()
    with pytest.raises(RedisConnectionError), trio.fail_after(5):
        while True:
            await conn.receive()
    with pytest.raises(RedisConnectionError):
        await PubSubConnection.open(redis_server.url)  # nothing listens there now
    await conn.aclose()


@pytest.fixture
def locked_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path, password="s3cret-pw", unix_socket=True)
    yield server  # type: ignore[misc]
    server.stop()


async def test_password_and_unix_socket_urls(locked_redis: RedisServer) -> None:
    conn = await subscribed(locked_redis.url, "a")
    await conn.aclose()
    conn = await subscribed(f"unix://:s3cret-pw@{locked_redis.socket}", "b")
    client = redis.Redis(unix_socket_path=str(locked_redis.socket), password="s3cret-pw")
    client.publish("b", b"over the socket")
    assert await replies(conn, 1) == [[b"message", b"b", b"over the socket"]]
    await conn.aclose()
    client.close()


async def test_a_wrong_or_missing_password_is_refused(locked_redis: RedisServer) -> None:
    with pytest.raises(ResponseError, match="WRONGPASS"):
        await PubSubConnection.open(locked_redis.url.replace("s3cret-pw", "wrong"))
    conn = await PubSubConnection.open(locked_redis.url.replace(":s3cret-pw@", ""))
    await conn.subscribe("a")
    with pytest.raises(ResponseError, match="NOAUTH"):
        await replies(conn, 1)
    await conn.aclose()


async def test_brokers_on_a_password_protected_redis(locked_redis: RedisServer) -> None:
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        a, b = [
            await stack.enter_async_context(open_redis(locked_redis.url, **FAST)) for _ in range(2)
        ]
        await subscribe_both(a, b, "c1")
        await a.broker.publish(Event(MESSAGE, "c1", 1, b"{}", stamp=1))
        async with aclosing(b.broker.events()) as events:
            with trio.fail_after(5):
                event = await anext(events)
        assert (event.kind, event.channel_id, event.seq) == (MESSAGE, "c1", 1)


async def test_the_trio_side_connections_use_the_urls_database(
    locked_redis: RedisServer,
) -> None:
    """With a database in the URL, the conveyor's spends and publishes land there
    (AUTH, then SELECT): two instances share one rate-limit bucket in it (a spend
    answered by this instance's own buckets would not see the other's), and
    database 0 holds nothing."""
    url = locked_redis.url.removesuffix("/0") + "/5"
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        a, b = [await stack.enter_async_context(open_redis(url, **FAST)) for _ in range(2)]
        await subscribe_both(a, b, "c1")
        assert await a.limits.spend("k", 1, 60.0) == 0
        assert await b.limits.spend("k", 1, 60.0) > 0  # a's token is gone cluster-wide
        await a.broker.publish(Event(MESSAGE, "c1", 1, b"{}", stamp=1))
        async with aclosing(b.broker.events()) as events:
            with trio.fail_after(5):
                assert (await anext(events)).seq == 1
    client = redis.Redis(host="127.0.0.1", port=locked_redis.port, password="s3cret-pw", db=5)
    assert client.exists("trichat:rl:k") == 1
    assert redis.Redis(host="127.0.0.1", port=locked_redis.port, password="s3cret-pw").dbsize() == 0


@pytest.fixture
def tls_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path, tls=True)
    yield server  # type: ignore[misc]
    server.stop()


async def test_brokers_over_tls_trust_the_urls_certificates(tls_redis: RedisServer) -> None:
    """rediss:// with `ssl_ca_certs`: the trio-side connections (PubSub, the
    conveyor) verify the server as redis-py's client does, and two instances share
    events and a rate-limit bucket over TLS."""
    url = f"rediss://127.0.0.1:{tls_redis.tls_port}/0?ssl_ca_certs={tls_redis.cert}"
    async with aio.open_aio_loop(), AsyncExitStack() as stack:
        a, b = [await stack.enter_async_context(open_redis(url, **FAST)) for _ in range(2)]
        await subscribe_both(a, b, "c1")
        assert await a.limits.spend("k", 1, 60.0) == 0
        assert await b.limits.spend("k", 1, 60.0) > 0
        await a.broker.publish(Event(MESSAGE, "c1", 1, b"{}", stamp=1))
        async with aclosing(b.broker.events()) as events:
            with trio.fail_after(5):
                assert (await anext(events)).seq == 1


async def test_an_untrusted_tls_certificate_is_refused_unless_told_not_to_check(
    tls_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A self-signed server certificate not in `ssl_ca_certs` (nor the system's) is
    refused: the broker stays degraded and says why; `ssl_cert_reqs=none` connects."""
    base = f"rediss://127.0.0.1:{tls_redis.tls_port}/0"
    async with aio.open_aio_loop(), open_redis(base, **FAST) as refused:
        with trio.move_on_after(0.5):
            await refused.broker.wait_healthy()
        assert not refused.broker.healthy
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    with trio.fail_after(5):
        conn = await subscribed(f"{base}?ssl_cert_reqs=none", "a")
    await conn.aclose()


async def test_a_broker_with_a_wrong_password_stays_degraded(
    locked_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = locked_redis.url.replace("s3cret-pw", "wrong")
    async with aio.open_aio_loop(), open_redis(url, **FAST) as backends:
        assert not backends.broker.healthy
        with trio.move_on_after(0.5):
            await backends.broker.wait_healthy()
        assert not backends.broker.healthy
        # served alone meanwhile: a publish reaches this instance's own bridge
        await backends.broker.publish(Event(MESSAGE, "c1", 1, b"{}", stamp=1))
        async with aclosing(backends.broker.events()) as events:
            with trio.fail_after(5):
                assert (await anext(events)).seq == 1
    assert "WRONGPASS" in caplog.text


async def subscribe_both(a: RedisBackends, b: RedisBackends, channel_id: str) -> None:
    with trio.fail_after(10):
        for backends in (a, b):
            await backends.broker.wait_healthy()
            await backends.broker.subscribe(channel_id)
