"""SQLite's schema, created or upgraded in place at start: a v1 `trichat-data/`
keeps working. `PRAGMA user_version` says which version the file holds (0 for a
v1 file, which never set it); each upgrade runs in one transaction."""

from __future__ import annotations

import sqlite3
from importlib import resources

VERSION = 2

# messages' columns added by v2 (the channel log), as SQLite's ADD COLUMN takes them
_V2_COLUMNS = (
    ("parent_seq", "INTEGER"),
    ("edited_at", "INTEGER"),
    ("reply_count", "INTEGER NOT NULL DEFAULT 0"),
    ("last_reply_at", "INTEGER"),
    ("event", "TEXT NOT NULL DEFAULT 'message'"),
    ("target_seq", "INTEGER"),
    ("emoji", "TEXT"),
    ("reaction_count", "INTEGER"),
)


def _script(name: str) -> str:
    return resources.files("trichat.store").joinpath(name).read_text()


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the v1 tables if missing, then upgrade to `VERSION`."""
    conn.executescript(_script("sqlite_schema.sql"))
    if conn.execute("PRAGMA user_version").fetchone()[0] >= VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {row[1] for row in conn.execute("PRAGMA table_info(messages)")}
        for name, decl in _V2_COLUMNS:
            if name not in have:
                conn.execute(f"ALTER TABLE messages ADD COLUMN {name} {decl}")
        for statement in _script("sqlite_v2.sql").split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
