"""The floor under a stored message: trichat's SQLite schema and append statements
driven by a plain `sqlite3` loop (no trio, no threads), as S2 writes them: batches
of `--batch` messages over 1,000 channels, each batch one transaction that also
writes the touched channels' `last_seq`.

    taskset -c 1 .venv/bin/python bench/sqlite_floor.py [--batch 5] [--sync FULL|NORMAL]

Prints CPU (user + system) and wall µs per message.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
import uuid
from importlib import resources
from pathlib import Path

from trichat.store.sqlite import _INSERT_MESSAGE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5)
    parser.add_argument("--sync", default="FULL", choices=["FULL", "NORMAL", "OFF"])
    parser.add_argument("-n", type=int, default=20_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={args.sync}")
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.executescript(
            resources.files("trichat.store").joinpath("sqlite_schema.sql").read_text()
        )
        channels = [str(uuid.uuid4()) for _ in range(1000)]
        conn.executemany(
            "INSERT INTO channels (id, name, channel_type, created_by, created_at, updated_at) "
            "VALUES (?, ?, 'public', 'u', 0, 0)",
            [(cid, f"c{i}") for i, cid in enumerate(channels)],
        )
        last = dict.fromkeys(channels, 0)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = 0
        while done < args.n:
            conn.execute("BEGIN IMMEDIATE")
            touched = set()
            for _ in range(args.batch):
                cid = random.choice(channels)
                last[cid] += 1
                touched.add(cid)
                row = (cid, last[cid], uuid.uuid4().hex, "u", "u", None, None, "lg:1:2", "user", 0)
                conn.execute(_INSERT_MESSAGE, row)
                done += 1
            conn.executemany(
                "UPDATE channels SET last_seq = ? WHERE id = ?", [(last[c], c) for c in touched]
            )
            conn.execute("COMMIT")
            if done % 2000 < args.batch:  # as trichat's checkpointer does, off the commit
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        conn.close()
    print(
        f"batch {args.batch}, synchronous={args.sync}: {cpu / done * 1e6:.1f} µs CPU and "
        f"{wall / done * 1e6:.1f} µs wall per message"
    )


if __name__ == "__main__":
    main()
