"""SQLite's schema, created or upgraded in place at start: a v1 `trichat-data/`
keeps working. `PRAGMA user_version` says which version the file holds (0 for a
v1 file, which never set it); each upgrade runs in one transaction."""

from __future__ import annotations

import sqlite3
from importlib import resources

# each version after v1: the columns it adds (table, name, declaration, as SQLite's
# ADD COLUMN takes them), then its script
_STEPS: dict[int, tuple[tuple[tuple[str, str, str], ...], str]] = {
    2: (  # the channel log
        (
            ("messages", "parent_seq", "INTEGER"),
            ("messages", "edited_at", "INTEGER"),
            ("messages", "reply_count", "INTEGER NOT NULL DEFAULT 0"),
            ("messages", "last_reply_at", "INTEGER"),
            ("messages", "event", "TEXT NOT NULL DEFAULT 'message'"),
            ("messages", "target_seq", "INTEGER"),
            ("messages", "emoji", "TEXT"),
            ("messages", "reaction_count", "INTEGER"),
        ),
        "sqlite_v2.sql",
    ),
    3: (  # read state
        (
            ("channels", "msg_total", "INTEGER NOT NULL DEFAULT 0"),
            ("channels", "read_receipts", "INTEGER NOT NULL DEFAULT 1"),
        ),
        "sqlite_v3.sql",
    ),
}
VERSION = max(_STEPS)


def _script(name: str) -> str:
    return resources.files("trichat.store").joinpath(name).read_text()


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the v1 tables if missing, then upgrade to `VERSION`."""
    conn.executescript(_script("sqlite_schema.sql"))
    have = conn.execute("PRAGMA user_version").fetchone()[0]
    for version in range(max(have, 1) + 1, VERSION + 1):
        _upgrade(conn, version)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    columns, script = _STEPS[version]
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, name, decl in columns:
            have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
        for statement in _script(script).split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
