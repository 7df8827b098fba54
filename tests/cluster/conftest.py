"""Several `trichat run` processes sharing one throwaway Redis and one PostgreSQL
database: the compose topology, with local processes instead of containers."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from tests.helpers.pg import PostgresServer
from tests.helpers.process import TrichatProcess
from tests.helpers.redis import RedisServer

SECRET = "cluster-secret-of-sufficient-length-for-hs256"
_databases = itertools.count()


class Cluster:
    def __init__(self, root: Path, pg: PostgresServer, redis: RedisServer) -> None:
        self.root = root
        self.pg = pg
        self.redis = redis
        self.dsn = ""
        self.nodes: list[TrichatProcess] = []
        self.env: dict[str, str] = {}

    async def start(self, n: int, **env: str) -> list[TrichatProcess]:
        """A fresh database, then `n` instances started side by side."""
        name = f"cluster_{next(_databases)}"
        await trio.to_thread.run_sync(self.pg.psql, f"CREATE DATABASE {name}")
        self.dsn = self.pg.dsn(name)
        self.env = {
            "DATABASE_URL": self.dsn,
            "REDIS_URL": self.redis.url,
            "TRICHAT_RATE_LIMIT_PER_MINUTE": "100000",
            "TRICHAT_SHUTDOWN_GRACE": "3s",
            "TRICHAT_LOG_LEVEL": "info",
            **env,
        }
        started: list[TrichatProcess | None] = [None] * n

        async def one(i: int) -> None:
            started[i] = await trio.to_thread.run_sync(self._spawn, f"node{len(self.nodes) + i}")

        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one, i)
        nodes = [node for node in started if node is not None]
        self.nodes += nodes
        assert len({node.general for node in self.nodes}) == 1  # one 'general' for all
        return nodes

    def _spawn(self, name: str) -> TrichatProcess:
        return TrichatProcess(
            self.root / f"{name}.log", SECRET, TRICHAT_INSTANCE_ID=name, **self.env
        )

    def stop(self) -> None:
        """Stop every instance, then check every log (a killed one's too)."""
        for node in self.nodes:
            if node.running:
                node.proc.terminate()
        for node in self.nodes:
            node.proc.wait(timeout=20)
        for node in self.nodes:
            node.check_log()


StartCluster = Callable[..., Awaitable[list[TrichatProcess]]]


@pytest.fixture
def cluster(
    tmp_path: Path, postgres_server: PostgresServer, redis_server: RedisServer
) -> Iterator[Cluster]:
    c = Cluster(tmp_path, postgres_server, redis_server)
    try:
        yield c
    finally:
        c.stop()
