"""redis-py's asyncio connections packing with hiredis (`broker.redis_packing`):
the same bytes on the wire as redis-py's own packer, over every URL scheme."""

from __future__ import annotations

import pytest
from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection

from trichat.broker.redis_packing import connection_pool

COMMANDS: list[tuple[object, ...]] = [
    ("PING",),
    ("SET", "key", b"\x00\xffbytes", 42, -7, 0.1, 1e20, 2.5),
    ("EVALSHA", "0" * 40, 2, "k1", "k2", "émoji 🙂", b"", ""),
    ("SCRIPT LOAD", "return 1"),  # a command name of two words: two arguments
    (b"CLIENT SETNAME", b"trichat"),
    ("PUBLISH", "topic", b"x" * 100_000),  # beyond redis-py's buffer cutoff
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: str(c[0]))
def test_the_bytes_are_redis_pys(command: tuple[object, ...]) -> None:
    ours = connection_pool("redis://localhost:6379").make_connection()
    theirs = Connection()
    assert b"".join(ours.pack_command(*command)) == b"".join(theirs.pack_command(*command))


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("redis://:pw@localhost:6380/3", Connection),
        ("rediss://localhost:6380/3?password=pw", SSLConnection),
        ("unix:///tmp/redis.sock?db=3&password=pw", UnixDomainSocketConnection),
    ],
)
def test_every_scheme_keeps_its_connection_class_and_options(url: str, base: type) -> None:
    pool = connection_pool(url, max_connections=5)
    conn = pool.make_connection()
    assert isinstance(conn, base)
    assert pool.max_connections == 5
    assert (conn.db, conn.password) == (3, "pw")
    assert b"".join(conn.pack_command("GET", "k")) == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
