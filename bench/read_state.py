"""What read-state answers cost for a user in many big channels (SPEC §7): a SQLite
store filled with CHANNELS channels of MESSAGES messages each (written in bulk, not
through the writer), the user's marker in every one of them (half read to the end,
half 1,000 behind), then timed with the real store methods:

- `read_marks(user, None)`: GET /me/unread's read (one row per channel)
- `read_marks(user, 50 ids)`: a page of GET /channels, and `joined`
- `unread_at` for a move not stored yet (100 messages past the stored marker)
- `put_reads`: a move of 100 messages, and a move to the end
- the same unread figures counted over the log (what the counters avoid)

    .venv/bin/python bench/read_state.py [--channels 500] [--messages 100000] [--dir D]

The store is built once in D (default /tmp/trichat-read-state) and reused by
later runs with the same sizes.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from trichat.models import ReadMark
from trichat.store.sqlite import open_sqlite_store

USER = "reader"
BEHIND = 1000  # unread in half of the channels


def build(path: Path, channels: int, messages: int) -> list[str]:
    """The channels (ids), filled in bulk; reused when the file has these sizes."""
    done = path / f"built-{channels}x{messages}"
    db = path / "trichat.db"
    if done.exists():
        conn = sqlite3.connect(db)
        ids = [r[0] for r in conn.execute("SELECT id FROM channels ORDER BY name")]
        conn.close()
        return ids
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("trichat.db*"):
        old.unlink()
    trio.run(_create, path)  # the schema, as the store creates it
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(channels)]
    conn.execute("BEGIN")
    for n, cid in enumerate(ids):
        conn.execute(
            "INSERT INTO channels (id, name, channel_type, created_by, created_at, updated_at, "
            "last_seq, msg_total) VALUES (?, ?, 'public', 'x', 0, 0, ?, ?)",
            (cid, f"c{n:05d}", messages, messages),
        )
        conn.execute(
            "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?) "
            "INSERT INTO messages (channel_id, seq, message_id, user_id, username, content, "
            "created_at) SELECT ?, n, 'm' || n, 'u' || (n % 7), 'u', 'message text ' || n, n "
            "FROM s",
            (messages, cid),
        )
        conn.executemany(
            "INSERT INTO authors VALUES (?, ?, ?)",
            [
                (cid, f"u{k}", sum(1 for s in range(1, messages + 1) if s % 7 == k))
                for k in range(7)
            ],
        )
        marker = messages if n % 2 == 0 else messages - BEHIND
        conn.execute("INSERT INTO reads VALUES (?, ?, ?, 0, ?)", (cid, USER, marker, marker))
    conn.execute("COMMIT")
    conn.close()
    done.touch()
    return ids


async def _create(path: Path) -> None:
    async with open_sqlite_store(path):
        pass


async def timed(what: str, fn: Callable[[], Awaitable[object]], runs: int = 20) -> None:
    await fn()  # warm
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        took.append(time.perf_counter() - start)
    print(f"{what:58s} median {statistics.median(took) * 1000:8.2f} ms")


async def measure(path: Path, ids: list[str], messages: int) -> None:
    async with open_sqlite_store(path) as store:
        marks = await store.read_marks(USER, None)
        unread = sum(m.unread for m in marks)
        print(f"{len(ids)} channels x {messages} messages; {USER}: {unread} unread in all")
        behind = ids[1]
        await timed("GET /me/unread: read_marks(user, every channel)",
                    lambda: store.read_marks(USER, None))  # fmt: skip
        await timed("a page of 50 channels / joined: read_marks(user, 50 ids)",
                    lambda: store.read_marks(USER, ids[:50]))  # fmt: skip
        at = messages - BEHIND + 100
        await timed("a move not stored yet (100 past the marker): unread_at",
                    lambda: store.unread_at(behind, USER, at))  # fmt: skip
        conn = sqlite3.connect(path / "trichat.db")
        count = (
            "SELECT count(*) FROM messages WHERE channel_id = ? AND seq > ? "
            "AND event = 'message' AND deleted_at IS NULL AND user_id <> ?"
        )

        async def counted_over_the_log() -> None:
            for m in marks:
                conn.execute(count, (m.channel_id, m.seq, USER)).fetchone()

        await timed("the same unread figures, counted over the log", counted_over_the_log, 3)
        step = [messages - BEHIND]

        async def move_100() -> None:
            step[0] += 1 if step[0] >= messages else 0
            await store.put_reads([ReadMark(behind, USER, min(step[0] + 100, messages), 1)])
            step[0] = min(step[0] + 100, messages - 1)

        await timed("put_reads: a move over 100 messages (one commit)", move_100, 5)
        await timed("put_reads: a move to the end (one commit)",
                    lambda: store.put_reads([ReadMark(ids[3], USER, messages, 2)]), 5)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=500)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/trichat-read-state"))
    args = parser.parse_args()
    started = time.perf_counter()
    ids = build(args.dir, args.channels, args.messages)
    print(f"store ready in {time.perf_counter() - started:.0f} s: {args.dir}")
    trio.run(measure, args.dir, ids, args.messages)


if __name__ == "__main__":
    main()
