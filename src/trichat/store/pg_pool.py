"""The PostgreSQL store's connections: asyncpg connections kept in a list, a trio
semaphore for the slots, in place of `asyncpg.Pool`.

Under trio-asyncio the pool's own bookkeeping was half of every store call: a
`SELECT 1` through `Pool.acquire`/`release` cost 542 to 650 µs of CPU here, through
these connections 292 to 321 (`bench/pg_pool_cost.py`; the release runs
in an `asyncio.shield`ed task with its own deadline, the acquire builds a proxy and
a future per call, every one of them handles on trio-asyncio's loop;
docs/performance.md, "Performance VI"). trichat needs none of what the pool adds:
no per-connection setup, no session state to reset (no SET, LISTEN, cursors or
advisory locks on these connections; the claim holds its lock on a connection it
keeps), no inactivity expiry.

A caller holds a slot (`slots`, waited for in trio), takes a connection (`take`,
on the asyncio side, within the call's deadline: an idle one, or a new one) and
gives it back (`give`). A connection is kept unless the call was cut off mid-way
(a deadline, a cancellation: a statement may still be running) or the connection
failed (asyncpg's `InterfaceError`, an `OSError`), or it is closed or in a
transaction; such a connection is terminated, and a later call connects anew. An
error of PostgreSQL's (a constraint, a bad statement) or of the caller's leaves it
usable.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import trio


class Connections:
    def __init__(self, dsn: str, size: int) -> None:
        self._dsn = dsn
        self.size = size
        self.slots = trio.Semaphore(size)  # connections out at once
        self._idle: list[asyncpg.Connection] = []
        self._open: set[asyncpg.Connection] = set()
        self._closed = False

    async def take(self) -> asyncpg.Connection:
        """(asyncio) An idle connection, or a new one; the caller holds a slot and
        bounds the time (connecting arms no deadline of its own beyond asyncpg's)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.is_closed():
                return conn
            self._open.discard(conn)
        conn = await asyncpg.connect(self._dsn)
        self._open.add(conn)
        return conn

    def give(self, conn: asyncpg.Connection, error: BaseException | None) -> None:
        """(asyncio) `conn` back after a call that raised `error` (None: it did not):
        kept for the next call if it is clean, else terminated."""
        clean = error is None or (
            isinstance(error, Exception)  # a cancellation is not
            # nor a deadline, nor a protocol out of step
            and not isinstance(
                error, (asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
            )
        )
        if clean and not self._closed and not conn.is_closed() and not conn.is_in_transaction():
            self._idle.append(conn)
            return
        self._open.discard(conn)
        conn.terminate()

    async def open(self, count: int) -> None:
        """(asyncio) Connect `count` connections now: a PostgreSQL that cannot be
        reached fails here, at start."""
        conns = [await self.take() for _ in range(count)]
        for conn in conns:
            self.give(conn, None)

    async def close(self, wait: float) -> None:
        """(asyncio) Close every connection gracefully within `wait` seconds, else
        drop them; a connection given back after this is terminated."""
        self._closed = True
        idle, self._idle = self._idle, []
        # a graceful close that fails or runs late leaves the rest to `terminate`
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            async with asyncio.timeout(wait):  # TimeoutError is an OSError
                for conn in idle:
                    await conn.close()
        for conn in self._open:
            if not conn.is_closed():
                conn.terminate()
        self._open.clear()
