"""trichat with DATABASE_URL: the same chat on PostgreSQL, migrated at start."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import pytest
import trio

from tests.conftest import StartServer
from tests.helpers.client import http, ws_connect
from tests.helpers.pg import PostgresServer

_n = itertools.count()


async def _database(pg: PostgresServer) -> str:
    name = f"server_{next(_n)}"
    await trio.to_thread.run_sync(pg.psql, f"CREATE DATABASE {name}")
    return pg.dsn(name)


async def test_chat_on_postgres_survives_restart(
    start_server: StartServer, postgres_server: PostgresServer
) -> None:
    dsn = await _database(postgres_server)
    first = await start_server(database_url=dsn)
    async with ws_connect(first.ws_url("alice")) as alice, ws_connect(first.ws_url("bob")) as bob:
        await alice.join(first.general)
        await bob.join(first.general)
        for k in range(5):
            await alice.say(first.general, f"m{k}", message_id=f"id{k}")
        again = await alice.say(first.general, "m0", message_id="id0")
        assert again["seq"] == 1  # dedupe on PostgreSQL too
        got = await bob.messages(5)
        assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    general = first.general
    await first.stop()
    second = await start_server(database_url=dsn)
    assert second.general == general
    async with ws_connect(second.ws_url("carol")) as carol:
        joined = await carol.join(general, since=3)
        assert joined["last_seq"] == 5
        assert [m["content"] for m in await carol.messages(2)] == ["m3", "m4"]
    health = await http(second.port, "GET", "/api/v1/chat/health")
    assert health.json()["store"] == "ok"


async def test_migrate_command(postgres_server: PostgresServer) -> None:
    dsn = await _database(postgres_server)
    env = {**os.environ, "DATABASE_URL": dsn}

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "trichat", "migrate", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    first = await trio.to_thread.run_sync(migrate)
    assert first.returncode == 0 and "applied [1, 2, 3, 4]" in first.stdout
    again = await trio.to_thread.run_sync(migrate)
    assert "applied nothing; schema version now 4" in again.stdout
    down = await trio.to_thread.run_sync(migrate, "--down", "1")
    assert down.returncode == 0 and "reverted [4]; schema version now 3" in down.stdout


async def test_a_second_instance_without_redis_is_warned_about(
    start_server: StartServer, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Two instances on one database with no broker between them would each deliver
    only their own members' messages live: the second one's start says so."""
    dsn = await _database(postgres_server)
    first = await start_server(database_url=dsn)
    assert "another trichat instance" not in caplog.text
    await start_server(database_url=dsn)
    warned = [r for r in caplog.records if "another trichat instance" in r.getMessage()]
    assert len(warned) == 1
    assert "REDIS_URL" in warned[0].getMessage()
    await first.stop()
