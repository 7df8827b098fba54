"""Fixtures: a real trichat server in the test's nursery, on a free port."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.helpers.pg import PostgresServer
from tests.helpers.redis import RedisServer
from trichat.auth import mint
from trichat.config import Settings
from trichat.server import ServerHandle, serve

SECRET = "test-secret-of-sufficient-length-for-hs256"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL for the session (tests that stop it restart it). Its
    folder is outside pytest's temp tree, which the postgres user may not enter."""
    root = Path(tempfile.mkdtemp(prefix="trichat-pg-"))
    server = PostgresServer(root)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A throwaway redis-server per test: tests stop and restart it at will."""
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(folder)
    try:
        yield server
    finally:
        server.stop()


def test_settings(data_dir: Path, **overrides: Any) -> Settings:
    base = Settings(
        host="127.0.0.1",
        port=0,
        data_dir=data_dir,
        jwt_secret=SECRET,
        instance_id="test",
        shutdown_grace=3.0,
    )
    return dataclasses.replace(base, **overrides)


class Running:
    """A started server plus conveniences for tests."""

    def __init__(self, handle: ServerHandle, done: trio.Event) -> None:
        self.handle = handle
        self.port = handle.port
        self.done = done

    @property
    def general(self) -> str:
        return self.handle.general_id

    def token(self, user: str, **kwargs: Any) -> str:
        return mint(SECRET, user, **kwargs)

    def ws_url(self, user: str, path: str = "/ws", **kwargs: Any) -> str:
        return f"ws://127.0.0.1:{self.port}{path}?token={self.token(user, **kwargs)}"

    async def stop(self) -> None:
        self.handle.stop()
        with trio.fail_after(10):
            await self.done.wait()


StartServer = Callable[..., Awaitable[Running]]


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
async def start_server(nursery: trio.Nursery, tmp_path: Path) -> AsyncIterator[StartServer]:
    """Start a server with settings overrides; stopped at the end of the test, which
    fails if the server logged an error (a crash in a handler, an ASGI error...)."""
    running: list[Running] = []
    errors = _Errors()
    logging.getLogger().addHandler(errors)

    async def start(data_dir: Path | None = None, **overrides: Any) -> Running:
        settings = test_settings(data_dir or tmp_path / "data", **overrides)
        done = trio.Event()

        async def run(task_status: trio.TaskStatus[ServerHandle]) -> None:
            try:
                await serve(settings, task_status=task_status)
            finally:
                done.set()

        handle = await nursery.start(run)
        server = Running(handle, done)
        running.append(server)
        return server

    try:
        yield start
        for server in running:
            if not server.done.is_set():
                await server.stop()
    finally:
        logging.getLogger().removeHandler(errors)
    logged = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in errors.records]
    assert not logged, "the server logged errors:\n" + "\n".join(logged)


@pytest.fixture
async def server(start_server: StartServer) -> Running:
    return await start_server()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The regression benchmark's figures (tests/bench), for the CI log."""
    from tests.bench.test_bench import FIGURES

    if FIGURES:
        terminalreporter.section("benchmark figures (recorded, not asserted)")
        for line in FIGURES:
            terminalreporter.write_line(line)
