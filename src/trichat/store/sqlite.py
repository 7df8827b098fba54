"""SQLite store: the embedded default. One file, WAL, `synchronous=FULL`.

Writes go through one writer task (`writer.Writer`) that runs them off the trio
thread in batches: every job waiting when the writer wakes runs in one transaction
(each inside its own SAVEPOINT unless it writes only after every check passed, so
one failing job spoils nothing else), then one COMMIT — group commit — and only then
is each caller answered. So an `append` returns after its message is durable, and a
burst of appends costs one fsync. Reads use a second connection (WAL lets it read
while the writer writes). The statements shared with PostgreSQL are in `sql.py`.

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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import trio

from trichat.errors import StoreUnavailable
from trichat.models import AppendResult, Change, ChangeResult, MessageDraft, ReadMark, now_ms
from trichat.store.log_sql import LogStatements, check_parent, facts, rule, steps
from trichat.store.read_sql import ReadStatements, started
from trichat.store.rows import MESSAGES, Row, as_event, log_item
from trichat.store.sql import SQLITE, SqlStore, Statements
from trichat.store.sqlite_files import WritableFiles, lock_file
from trichat.store.sqlite_seqs import Seqs
from trichat.store.sqlite_upgrade import ensure_schema
from trichat.store.writer import Job, Writer, in_thread, running

T = TypeVar("T")
log = logging.getLogger("trichat.store.sqlite")

MAX_BATCH = 512
CHECKPOINT_EVERY = 1.0  # seconds

# a repeated (channel, user, message_id) inserts nothing (rowcount 0); any other
# conflict, e.g. on (channel_id, seq), still raises
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({MESSAGES.columns}) VALUES (?,?,?,?,?,?,?,?,?,?,NULL) "
    "ON CONFLICT (channel_id, user_id, message_id) DO NOTHING"
)


_INSERT_REPLY = (
    f"INSERT INTO messages ({MESSAGES.columns}, parent_seq) VALUES (?,?,?,?,?,?,?,?,?,?,NULL,?)"
)
_LOG = LogStatements(SQLITE)
_READS = ReadStatements(SQLITE)


class _Job(Job):
    __slots__ = ("fn", "savepoint")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any], savepoint: bool) -> None:
        self.fn = fn
        self.savepoint = savepoint
        self.result: Any = None
        self.error: BaseException | None = None
        self.done = None
        self.on_done = None


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _returned(c: sqlite3.Connection, sql: str, args: Sequence[object]) -> Row | None:
    rows = c.execute(sql, args).fetchall()  # every row: the statement is done
    return rows[0] if rows else None


_SQL = Statements(SQLITE)


class SqliteStore(SqlStore):
    name = "sqlite"
    sql = _SQL
    reads = _READS
    duplicate = (sqlite3.IntegrityError,)

    def __init__(self, path: Path, synchronous: str = "full") -> None:
        self.path = path
        # one process per file: the writer numbers messages from memory (`sqlite_seqs.Seqs`)
        self._lock = lock_file(Path(f"{path}.lock"))
        self._files = WritableFiles(path)
        # False after a write batch failed: `ping` then proves a write before it
        # reports the store up again (a read alone would pass)
        self.writes_ok = True
        self._writer_conn = _connect(path, synchronous)
        self._writer_conn.execute("PRAGMA wal_autocheckpoint=0")
        ensure_schema(self._writer_conn)
        self._reader_conn = _connect(path, synchronous)
        self._checkpoint_conn = _connect(path, synchronous)
        self._seqs = Seqs()
        self._read_limiter = trio.CapacityLimiter(1)
        self._writer = Writer[_Job](
            "sqlite", partial(in_thread, self._run_batch, name="trichat sqlite writer"), MAX_BATCH
        )

    # ---- plumbing -------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, savepoint: bool = True) -> T:
        """Run `fn` in the writer's next transaction. `savepoint=False` is for jobs
        that write nothing unless they succeed (they check, then write once)."""
        return await self._writer.submit(_Job(fn, savepoint))  # type: ignore[no-any-return]

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            self._files.check_read()
            try:
                return fn(self._reader_conn)
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"sqlite: {exc}") from exc

        return await trio.to_thread.run_sync(run, limiter=self._read_limiter)

    async def _one(self, sql: str, args: Sequence[object]) -> Row | None:
        return await self._read(lambda c: c.execute(sql, args).fetchone())

    async def _all(self, sql: str, args: Sequence[object]) -> list[Row]:
        return await self._read(lambda c: c.execute(sql, args).fetchall())

    async def _change(self, sql: str, args: Sequence[object]) -> int:
        return await self._write(lambda c: c.execute(sql, args).rowcount)

    async def _change_one(self, sql: str, args: Sequence[object]) -> Row | None:
        return await self._write(lambda c: _returned(c, sql, args))

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
        await self._writer.run(task_status=task_status)

    async def run_checkpointer(self) -> None:
        """Checkpoint the WAL in the background, never inside a commit."""
        written = -1
        while True:
            await trio.sleep(CHECKPOINT_EVERY)
            if self._writer.committed == written:
                continue
            written = self._writer.committed
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

    # ---- the Store methods not in `SqlStore` ------------------------------------

    async def ping(self) -> None:
        """A read; and after a failed write, a write (one row of `health`)."""
        await self._one("SELECT 1", ())
        if not self.writes_ok:
            await self._change("INSERT OR REPLACE INTO health (id, at) VALUES (1, ?)", (now_ms(),))

    async def claim(self, *, alone: bool) -> bool:
        return True  # the lock file already keeps every other process off this store

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

    async def append(self, draft: MessageDraft) -> AppendResult:
        if draft.parent_seq is not None:
            return await self._write(partial(self._reply, draft))
        return await self._writer.submit(self._append_job(draft))  # type: ignore[no-any-return]

    async def append_soon(
        self, draft: MessageDraft, done: Callable[[AppendResult | BaseException], None]
    ) -> None:
        assert draft.parent_seq is None, "a reply goes through append"
        await self._writer.submit_soon(self._append_job(draft), done)

    def _append_job(self, draft: MessageDraft) -> _Job:
        seqs = self._seqs

        def append(c: sqlite3.Connection) -> AppendResult:
            # one statement per message: the insert is the dedupe check too
            msg = draft.numbered(seqs.next(c, draft.channel_id))
            if c.execute(_INSERT_MESSAGE, msg.columns()).rowcount:
                c.execute(_READS.sent, (msg.channel_id, msg.user_id))
                seqs.took(msg.channel_id, msg.seq)
                return AppendResult(msg, duplicate=False)
            key = (draft.channel_id, draft.user_id, draft.message_id)
            row = c.execute(_SQL.message_by_id, key).fetchone()
            return AppendResult(MESSAGES.record(row), duplicate=True)

        # no savepoint: it writes nothing, or the message and its author's count
        return _Job(append, False)

    def _reply(self, draft: MessageDraft, c: sqlite3.Connection) -> AppendResult:
        """A reply: its root checked, then stored and counted on the root."""
        key = (draft.channel_id, draft.user_id, draft.message_id)
        first = c.execute(_SQL.message_by_id, key).fetchone()
        if first is not None:  # a retry: answered even if the root is gone since
            return AppendResult(MESSAGES.record(first), duplicate=True)
        check_parent(draft, c.execute(_LOG.parent, (draft.channel_id, draft.parent_seq)).fetchone())
        msg = draft.numbered(self._seqs.next(c, draft.channel_id))
        c.execute(_INSERT_REPLY, (*msg.columns(), msg.parent_seq))
        c.execute(_LOG.reply_added, (msg.channel_id, msg.parent_seq, msg.created_at))
        c.execute(_READS.sent, (msg.channel_id, msg.user_id))
        self._seqs.took(msg.channel_id, msg.seq)
        return AppendResult(msg, duplicate=False)

    async def change(self, op: Change) -> ChangeResult:
        return await self._write(partial(self._change_log, op))  # type: ignore[no-any-return]

    def _change_log(self, op: Change, c: sqlite3.Connection) -> ChangeResult:
        """In the writer's batch, inside its own savepoint: a refusal undoes it."""
        key = (op.channel_id, op.user_id, op.message_id)
        first = c.execute(_SQL.log_by_id, key).fetchone()
        if first is not None:
            return ChangeResult(as_event(log_item(first)), duplicate=True)
        target = facts(c.execute(_LOG.facts, _LOG.facts_args(op)).fetchone())
        if not rule(op, target):
            return ChangeResult(None, duplicate=False)
        assert target is not None
        seq = self._seqs.next(c, op.channel_id)
        todo, event = steps(_LOG, op, target, seq)
        for sql, args in todo:
            c.execute(sql, args)
        self._seqs.took(op.channel_id, seq, message=False)
        return ChangeResult(event, duplicate=False)

    # ---- read markers ---------------------------------------------------------------

    async def start_read(self, channel_id: str, user_id: str, at: int) -> ReadMark | None:
        def start(c: sqlite3.Connection) -> ReadMark | None:
            last, total = self._seqs.of(c, channel_id)
            made = c.execute(_READS.insert, (channel_id, user_id, last, at, total)).rowcount
            return started(channel_id, user_id, last, at) if made else None

        return await self._write(start, savepoint=False)

    async def put_reads(self, moves: Sequence[ReadMark]) -> None:
        await self._write(partial(self._put_reads, moves))

    def _put_reads(self, moves: Sequence[ReadMark], c: sqlite3.Connection) -> None:
        for move in moves:
            try:
                last, total = self._seqs.of(c, move.channel_id)
            except LookupError:
                continue  # no such channel: nothing to mark
            seq, update, insert = _READS.move(move.seq, move.at, last, total)
            args = (move.channel_id, move.user_id, seq, move.at, total)
            if not c.execute(update, args if update is _READS.to_end else args[:4]).rowcount:
                c.execute(insert, args)


@asynccontextmanager
async def open_sqlite_store(
    data_dir: Path, synchronous: str = "full"
) -> AsyncIterator[SqliteStore]:
    """Open (creating the folder, file and schema as needed) and run the writer;
    at the end, answer every write queued, then close. `synchronous`: "full" fsyncs
    every commit (an ack survives power loss); "normal" fsyncs at checkpoints only
    (an ack survives a crash of trichat, not of the machine)."""

    def open_file() -> SqliteStore:
        data_dir.mkdir(parents=True, exist_ok=True)
        return SqliteStore(data_dir / "trichat.db", synchronous)

    try:
        store = await trio.to_thread.run_sync(open_file)
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"cannot open {data_dir / 'trichat.db'}: {exc}") from exc
    try:
        async with running(store._writer, store.run_checkpointer):
            yield store
    finally:
        store.close()
