"""redis-py's asyncio connections with their commands packed by hiredis.

redis-py's asyncio `Connection.pack_command` is Python, joining bytes per argument;
its sync client packs with hiredis when installed, its asyncio client does not. A
presence heartbeat of 2,000 users (one EVALSHA of ~6,000 arguments) cost the trio
thread 21.0 ms of CPU, 12.1 of it packing; hiredis packs the same in 1.6
(`bench/heartbeat_cost.py`; docs/performance.md, "Presence heartbeat"). Every
command on `RedisLink`'s client is packed this way.
"""

from __future__ import annotations

from typing import Any

import hiredis
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection, Connection, parse_url


class _HiredisPacking:
    def pack_command(self, *args: Any) -> list[bytes]:
        # as redis-py does: a command name of several words ("SCRIPT LOAD") goes
        # out as that many arguments
        name = args[0]
        if isinstance(name, str):
            args = (*name.encode().split(), *args[1:])
        elif b" " in name:
            args = (*name.split(), *args[1:])
        return [hiredis.pack_command(args)]


def _packed(base: type[AbstractConnection]) -> type[AbstractConnection]:
    return type(f"HiredisPacked{base.__name__}", (_HiredisPacking, base), {})


def connection_pool(url: str, **options: Any) -> aioredis.ConnectionPool:
    """`ConnectionPool.from_url(url, **options)`, its connections (TCP, TLS or a
    Unix socket, as the URL says) packing with hiredis."""
    kwargs = {**options, **parse_url(url)}  # the URL wins, as in from_url
    kwargs["connection_class"] = _packed(kwargs.get("connection_class", Connection))
    return aioredis.ConnectionPool(**kwargs)
