"""SQLite store: the embedded default. One file, WAL, `synchronous=FULL`.

Writes go through one writer task that runs them off the trio thread in batches:
every job waiting when the writer wakes runs in one transaction (each inside its own
SAVEPOINT unless it writes only after every check passed, so one failing job spoils
nothing else), then one COMMIT — group commit —
and only then is each caller answered. So an `append` returns after its message is
durable, and a burst of appends costs one fsync. Reads use a second connection
(WAL lets it read while the writer writes).

`TRICHAT_SQLITE_SYNC` chooses `synchronous`: `full` (the default) fsyncs the WAL in
every commit, so an ack survives power loss; `normal` leaves the fsync to the
checkpoints, so an ack survives a crash or kill of trichat but not of the machine,
and commit latency no longer depends on the disk's fsync (docs/performance.md).

Checkpoints (copying the WAL back into the database file) never run inside a
commit: the writer's connection has `wal_autocheckpoint=0`, and a checkpointer task
runs `wal_checkpoint(PASSIVE)` on a third connection every `CHECKPOINT_EVERY`
seconds. Measured: an automatic checkpoint inside a commit stalled that commit, and
every append queued behind it, for up to 317 ms (fan-out p99 300 ms at 45 msg/s).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import trio

from trichat.errors import Conflict, StoreUnavailable
from trichat.models import (
    AppendResult,
    Ban,
    Channel,
    Message,
    MessageDraft,
    PresenceEntry,
    now_ms,
)
from trichat.store.base import batches
from trichat.store.sqlite_files import WritableFiles, lock_file

T = TypeVar("T")
log = logging.getLogger("trichat.store.sqlite")

MAX_BATCH = 512
CHECKPOINT_EVERY = 1.0  # seconds
_CHANNEL_COLS = (
    "id, name, description, channel_type, max_participants, is_active, created_by, "
    "created_at, updated_at, last_seq"
)
_MESSAGE_COLS = (
    "channel_id, seq, message_id, user_id, username, display_name, avatar_url, content, "
    "kind, created_at, deleted_at"
)

# a repeated (channel, user, message_id) inserts nothing (rowcount 0); any other
# conflict, e.g. on (channel_id, seq), still raises
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({_MESSAGE_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,NULL) "
    "ON CONFLICT (channel_id, user_id, message_id) DO NOTHING"
)


def _channel(row: tuple[Any, ...]) -> Channel:
    return Channel(
        id=row[0],
        name=row[1],
        description=row[2],
        channel_type=row[3],
        max_participants=row[4],
        is_active=bool(row[5]),
        created_by=row[6],
        created_at=row[7],
        updated_at=row[8],
        last_seq=row[9],
    )


def _message(row: tuple[Any, ...]) -> Message:
    return Message(*row[:10], deleted=row[10] is not None)


class _Job:
    __slots__ = ("done", "error", "fn", "result", "savepoint")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], savepoint: bool) -> None:
        self.fn = fn
        self.savepoint = savepoint
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = trio.Event()


class _Seqs:
    """Each channel's last seq as the writer last wrote it. The writer connection
    is the only one that writes `channels.last_seq`, so after one read per channel
    an append numbers its message with no statement; every batch then writes each
    channel's new `last_seq` once, just before its COMMIT. A batch that fails as a
    whole (rolled back) makes the writer forget everything and read again."""

    MAX_CHANNELS = 100_000  # past this, forgotten after a flush (read again on use)

    def __init__(self) -> None:
        self.last: dict[str, int] = {}
        self.dirty: set[str] = set()

    def next(self, c: sqlite3.Connection, channel_id: str) -> int:
        last = self.last.get(channel_id)
        if last is None:
            row = c.execute("SELECT last_seq FROM channels WHERE id = ?", (channel_id,)).fetchone()
            if row is None:
                raise LookupError(f"no channel {channel_id}")
            last = self.last[channel_id] = row[0]
        return last + 1

    def took(self, channel_id: str, seq: int) -> None:
        self.last[channel_id] = seq
        self.dirty.add(channel_id)

    def flush(self, c: sqlite3.Connection) -> None:
        if self.dirty:
            c.executemany(
                "UPDATE channels SET last_seq = ? WHERE id = ?",
                [(self.last[cid], cid) for cid in self.dirty],
            )
            self.dirty.clear()
        if len(self.last) > self.MAX_CHANNELS:
            self.last.clear()

    def forget(self) -> None:
        self.last.clear()
        self.dirty.clear()


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


class SqliteStore:
    name = "sqlite"

    def __init__(self, path: Path, synchronous: str = "full") -> None:
        self.path = path
        # one process per file: the writer numbers messages from memory (`_Seqs`)
        self._lock = lock_file(Path(f"{path}.lock"))
        self._files = WritableFiles(path)
        # False after a write batch failed: `ping` then proves a write before it
        # reports the store up again (a read alone would pass)
        self.writes_ok = True
        self._writer_conn = _connect(path, synchronous)
        self._writer_conn.execute("PRAGMA wal_autocheckpoint=0")
        schema = resources.files("trichat.store").joinpath("sqlite_schema.sql").read_text()
        self._writer_conn.executescript(schema)
        self._reader_conn = _connect(path, synchronous)
        self._checkpoint_conn = _connect(path, synchronous)
        self._seqs = _Seqs()
        self._read_limiter = trio.CapacityLimiter(1)
        self._jobs_send, self._jobs_recv = trio.open_memory_channel[_Job](4096)
        self.batches = 0  # statistics: transactions committed
        self.batched_jobs = 0
        self.observe_batch: Callable[[int], None] = lambda size: None

    @property
    def pending_writes(self) -> int:
        return self._jobs_recv.statistics().current_buffer_used

    # ---- plumbing -------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, savepoint: bool = True) -> T:
        """Run `fn` in the writer's next transaction. `savepoint=False` is for jobs
        that write nothing unless they succeed (they check, then write once)."""
        job = _Job(fn, savepoint)
        await self._jobs_send.send(job)
        await job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[no-any-return]

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            self._files.check_read()
            try:
                return fn(self._reader_conn)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc

        return await trio.to_thread.run_sync(run, limiter=self._read_limiter)

    def _run_batch(self, batch: list[_Job]) -> None:
        """One transaction for the batch; a failure of the whole (disk, closed
        database) fails every job in it with `StoreUnavailable`, never the writer."""
        conn = self._writer_conn
        try:
            self._files.check_write()
        except StoreUnavailable as exc:
            self._fail_batch(batch, exc)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                if job.savepoint:
                    conn.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(conn)
                except sqlite3.OperationalError:
                    raise  # the database itself is failing: the whole batch fails
                except Exception as exc:  # the job's own failure, reported to its caller
                    if job.savepoint:
                        conn.execute("ROLLBACK TO job")
                    job.error = exc
                if job.savepoint:
                    conn.execute("RELEASE job")
            self._seqs.flush(conn)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._seqs.forget()
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            self._fail_batch(batch, StoreUnavailable(f"sqlite: {exc}"))
        else:
            self.writes_ok = True

    def _fail_batch(self, batch: list[_Job], error: StoreUnavailable) -> None:
        self.writes_ok = False
        for job in batch:
            job.result = None
            job.error = error

    async def run_writer(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        async for batch in batches(self._jobs_recv, MAX_BATCH):
            await trio.to_thread.run_sync(self._run_batch, batch)
            self.batches += 1
            self.batched_jobs += len(batch)
            self.observe_batch(len(batch))
            for job in batch:
                job.done.set()

    async def run_checkpointer(self) -> None:
        """Checkpoint the WAL in the background, never inside a commit."""
        written = -1
        while True:
            await trio.sleep(CHECKPOINT_EVERY)
            if self.batches == written:
                continue
            written = self.batches
            try:
                await trio.to_thread.run_sync(self._checkpoint)
            except (sqlite3.Error, StoreUnavailable) as exc:
                log.warning("sqlite checkpoint failed: %s", exc)

    def _checkpoint(self) -> None:
        self._files.check_write()
        self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        for conn in (self._writer_conn, self._reader_conn, self._checkpoint_conn):
            with contextlib.suppress(sqlite3.Error):
                if conn is self._writer_conn:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
        self._lock.close()  # releases the lock

    # ---- the Store interface ---------------------------------------------------

    async def ping(self) -> None:
        """A read; and after a failed write, a write (one row of `health`)."""
        await self._read(lambda c: c.execute("SELECT 1").fetchone())
        if not self.writes_ok:
            await self._write(
                lambda c: c.execute(
                    "INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (now_ms(),)
                )
            )

    async def claim(self, *, alone: bool) -> bool:
        return True  # the lock file already keeps every other process off this store

    async def create_channel(
        self,
        *,
        channel_id: str,
        name: str,
        description: str,
        channel_type: str,
        max_participants: int | None,
        created_by: str,
        now: int,
    ) -> Channel:
        row = (
            channel_id,
            name,
            description,
            channel_type,
            max_participants,
            1,
            created_by,
            now,
            now,
            0,
        )

        def insert(c: sqlite3.Connection) -> None:
            c.execute(f"INSERT INTO channels ({_CHANNEL_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", row)

        try:
            await self._write(insert)
        except sqlite3.IntegrityError:
            raise Conflict(f"a channel named {name!r} exists already") from None
        return _channel(row)

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {_CHANNEL_COLS} FROM channels WHERE id = ?", (channel_id,)
            ).fetchone()
        )
        return _channel(row) if row else None

    async def last_seqs(self, channel_ids: list[str]) -> dict[str, int]:
        def read(c: sqlite3.Connection) -> dict[str, int]:
            found: dict[str, int] = {}
            for start in range(0, len(channel_ids), 500):
                chunk = channel_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = f"SELECT id, last_seq FROM channels WHERE id IN ({marks})"
                found.update(c.execute(sql, chunk).fetchall())
            return found

        return await self._read(read)

    async def find_channel_by_name(self, name: str) -> Channel | None:
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {_CHANNEL_COLS} FROM channels WHERE name = ? ORDER BY created_at LIMIT 1",
                (name,),
            ).fetchone()
        )
        return _channel(row) if row else None

    async def list_channels(
        self,
        *,
        user_id: str,
        see_all: bool,
        channel_type: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Channel], int]:
        where = ["1=1"]
        args: list[Any] = []
        if not see_all:
            where.append(
                "(channel_type = 'public' OR created_by = ? OR EXISTS (SELECT 1 FROM members m "
                "WHERE m.channel_id = channels.id AND m.user_id = ?))"
            )
            args += [user_id, user_id]
        if channel_type is not None:
            where.append("channel_type = ?")
            args.append(channel_type)
        cond = " AND ".join(where)

        def query(c: sqlite3.Connection) -> tuple[list[Channel], int]:
            total = c.execute(f"SELECT count(*) FROM channels WHERE {cond}", args).fetchone()[0]
            rows = c.execute(
                f"SELECT {_CHANNEL_COLS} FROM channels WHERE {cond} "
                "ORDER BY created_at, id LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
            return [_channel(r) for r in rows], total

        return await self._read(query)

    async def update_channel(
        self, channel_id: str, changes: dict[str, object], now: int
    ) -> Channel | None:
        allowed = {"name", "description", "is_active", "max_participants"}
        assert set(changes) <= allowed, changes

        def update(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)
                c.execute(
                    f"UPDATE channels SET {sets}, updated_at = ? WHERE id = ?",
                    [*changes.values(), now, channel_id],
                )
            return c.execute(  # type: ignore[no-any-return]
                f"SELECT {_CHANNEL_COLS} FROM channels WHERE id = ?", (channel_id,)
            ).fetchone()

        try:
            row = await self._write(update)
        except sqlite3.IntegrityError:
            raise Conflict(f"a channel named {changes.get('name')!r} exists already") from None
        return _channel(row) if row else None

    async def append(self, draft: MessageDraft) -> AppendResult:
        seqs = self._seqs

        def append(c: sqlite3.Connection) -> AppendResult:
            # one statement per message: the insert is the dedupe check too
            msg = draft.numbered(seqs.next(c, draft.channel_id))
            if c.execute(_INSERT_MESSAGE, msg.columns()).rowcount:
                seqs.took(msg.channel_id, msg.seq)
                return AppendResult(msg, duplicate=False)
            row = c.execute(
                f"SELECT {_MESSAGE_COLS} FROM messages "
                "WHERE channel_id = ? AND user_id = ? AND message_id = ?",
                (draft.channel_id, draft.user_id, draft.message_id),
            ).fetchone()
            return AppendResult(_message(row), duplicate=True)

        # no savepoint: it writes one row or nothing
        return await self._write(append, savepoint=False)

    async def messages(
        self,
        channel_id: str,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int,
        include_deleted: bool = False,
    ) -> list[Message]:
        live = "" if include_deleted else " AND deleted_at IS NULL"
        if after is not None:
            sql = (
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = ? AND seq > ?{live} "
                "ORDER BY seq LIMIT ?"
            )
            args: tuple[Any, ...] = (channel_id, after, limit)
        else:
            bound = before if before is not None else 2**62
            sql = (
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = ? AND seq < ?{live} "
                "ORDER BY seq DESC LIMIT ?"
            )
            args = (channel_id, bound, limit)

        def query(c: sqlite3.Connection) -> list[Message]:
            return [_message(r) for r in c.execute(sql, args).fetchall()]

        rows = await self._read(query)
        if after is None:
            rows.reverse()
        return rows

    async def get_message(self, channel_id: str, seq: int) -> Message | None:
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = ? AND seq = ?",
                (channel_id, seq),
            ).fetchone()
        )
        return _message(row) if row else None

    async def delete_message(self, channel_id: str, seq: int, now: int) -> Message | None:
        def delete(c: sqlite3.Connection) -> tuple[Any, ...] | None:
            row = c.execute(
                f"SELECT {_MESSAGE_COLS} FROM messages WHERE channel_id = ? AND seq = ?",
                (channel_id, seq),
            ).fetchone()
            if row is not None and row[10] is None:
                c.execute(
                    "UPDATE messages SET deleted_at = ? WHERE channel_id = ? AND seq = ?",
                    (now, channel_id, seq),
                )
            return row  # type: ignore[no-any-return]

        row = await self._write(delete)
        return _message(row) if row else None

    async def is_member(self, channel_id: str, user_id: str) -> bool:
        row = await self._read(
            lambda c: c.execute(
                "SELECT 1 FROM members WHERE channel_id = ? AND user_id = ?",
                (channel_id, user_id),
            ).fetchone()
        )
        return row is not None

    async def set_member(
        self, channel_id: str, user_id: str, present: bool, by: str, now: int
    ) -> None:
        def change(c: sqlite3.Connection) -> None:
            if present:
                c.execute(
                    "INSERT OR IGNORE INTO members (channel_id, user_id, added_by, added_at) "
                    "VALUES (?,?,?,?)",
                    (channel_id, user_id, by, now),
                )
            else:
                c.execute(
                    "DELETE FROM members WHERE channel_id = ? AND user_id = ?",
                    (channel_id, user_id),
                )

        await self._write(change)

    async def get_ban(self, channel_id: str, user_id: str, now: int) -> Ban | None:
        row = await self._read(
            lambda c: c.execute(
                "SELECT channel_id, user_id, reason, banned_by, created_at, expires_at "
                "FROM bans WHERE channel_id = ? AND user_id = ? "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (channel_id, user_id, now),
            ).fetchone()
        )
        return Ban(*row) if row else None

    async def put_ban(self, ban: Ban) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO bans (channel_id, user_id, reason, banned_by, "
                "created_at, expires_at) VALUES (?,?,?,?,?,?)",
                (
                    ban.channel_id,
                    ban.user_id,
                    ban.reason,
                    ban.banned_by,
                    ban.created_at,
                    ban.expires_at,
                ),
            )
        )

    async def delete_ban(self, channel_id: str, user_id: str, by: str, now: int) -> bool:
        def delete(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "DELETE FROM bans WHERE channel_id = ? AND user_id = ?", (channel_id, user_id)
            )
            return cur.rowcount > 0

        return await self._write(delete)

    async def log_moderation(
        self, channel_id: str, actor: str, action: str, target: str, detail: str, now: int
    ) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO moderation_log (channel_id, actor, action, target, detail, "
                "created_at) VALUES (?,?,?,?,?,?)",
                (channel_id, actor, action, target, detail, now),
            )
        )

    async def record_seen(self, channel_id: str, user_id: str, username: str, at: int) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO presence (channel_id, user_id, username, last_seen) "
                "VALUES (?,?,?,?) ON CONFLICT (channel_id, user_id) DO UPDATE SET "
                "username = excluded.username, last_seen = max(last_seen, excluded.last_seen)",
                (channel_id, user_id, username, at),
            )
        )

    async def recently_seen(self, channel_id: str, limit: int) -> list[PresenceEntry]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT user_id, username, last_seen FROM presence WHERE channel_id = ? "
                "ORDER BY last_seen DESC LIMIT ?",
                (channel_id, limit),
            ).fetchall()
        )
        return [PresenceEntry(*row) for row in rows]

    async def moderation_log(self, channel_id: str, limit: int) -> list[dict[str, object]]:
        rows = await self._read(
            lambda c: c.execute(
                "SELECT actor, action, target, detail, created_at FROM moderation_log "
                "WHERE channel_id = ? ORDER BY id DESC LIMIT ?",
                (channel_id, limit),
            ).fetchall()
        )
        keys = ("actor", "action", "target", "detail", "created_at")
        return [dict(zip(keys, r, strict=True)) for r in rows]


@asynccontextmanager
async def open_sqlite_store(
    data_dir: Path, synchronous: str = "full"
) -> AsyncIterator[SqliteStore]:
    """Open (creating the folder, file and schema as needed) and run the writer.
    `synchronous`: "full" fsyncs every commit (an ack survives power loss);
    "normal" fsyncs at checkpoints only (an ack survives a crash of trichat, not of
    the machine)."""

    def open_file() -> SqliteStore:
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStore(data_dir / "trichat.db", synchronous)

    try:
        store = await trio.to_thread.run_sync(open_file)
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"cannot open {data_dir / 'trichat.db'}: {exc}") from exc
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run_writer)
            checkpoints = trio.CancelScope()
            nursery.start_soon(_run_in, checkpoints, store.run_checkpointer)
            try:
                yield store
            finally:
                store._jobs_send.close()  # the writer finishes what is queued, then ends
                checkpoints.cancel()
    finally:
        store.close()


async def _run_in(scope: trio.CancelScope, fn: Callable[[], Awaitable[None]]) -> None:
    with scope:
        await fn()
